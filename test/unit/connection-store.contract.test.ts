import { connectionStoreContract } from '../contracts/connection-store';
import { FakeConnectionStore } from '../fakes';

// The fake the unit tests trust, held to the same contract as the DynamoDB adapter.
connectionStoreContract('in-memory fake', () => {
  const store = new FakeConnectionStore();
  return { store, stateTtl: async (sub, state) => store.stateOf(sub, state)?.ttl };
});
