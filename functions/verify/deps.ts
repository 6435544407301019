import { CognitoUserDirectory } from '../adapters/cognito-users';
import { config, connectionsDeps, once } from '../adapters/runtime';
import type { ConnectionsDeps } from '../core/connections';

/**
 * The composition root of the `verify` function: the connections use cases' dependencies, once
 * per container, plus the caller's Cognito profile for the account policy (only verify reads it).
 */
export const deps = once(
  async (): Promise<ConnectionsDeps> => ({
    ...(await connectionsDeps()),
    users: CognitoUserDirectory.create({ region: config().AWS_REGION, endpoint: config().COGNITO_ENDPOINT }),
  }),
);
