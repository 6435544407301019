import { CognitoUserDirectory } from '../adapters/cognito-users';
import { DynamoConnectionStore } from '../adapters/connection-store';
import { config, connectedAccounts, connectionSettings, documentClient, newState, once, systemClock } from '../adapters/runtime';
import type { ConnectionsDeps } from '../core/connections';

/**
 * The composition root of the `verify` function: the connections use cases' dependencies, once
 * per container, plus the caller's Cognito profile for the account policy (only verify reads it).
 */
export const deps = once(
  async (): Promise<ConnectionsDeps> => ({
    accounts: await connectedAccounts(),
    store: new DynamoConnectionStore(await documentClient(), config().TABLE_NAME),
    clock: systemClock,
    newState,
    settings: connectionSettings(),
    users: CognitoUserDirectory.create({ region: config().AWS_REGION, endpoint: config().COGNITO_ENDPOINT }),
  }),
);
