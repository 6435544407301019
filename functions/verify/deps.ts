import { DynamoConnectionStore } from '../adapters/connection-store';
import { config, connectedAccounts, connectionSettings, documentClient, newState, once, systemClock } from '../adapters/runtime';
import type { ConnectionsDeps } from '../core/connections';

/** The composition root of the `verify` function: the connections use cases' dependencies, once per container. */
export const deps = once(
  async (): Promise<ConnectionsDeps> => ({
    accounts: await connectedAccounts(),
    store: new DynamoConnectionStore(await documentClient(), config().TABLE_NAME),
    clock: systemClock,
    newState,
    settings: connectionSettings(),
  }),
);
