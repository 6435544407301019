import { usageStoreContract } from '../contracts/usage-store';
import { FakeUsageStore } from '../fakes';

// The fake the unit tests trust, held to the same contract as the DynamoDB adapter.
usageStoreContract('in-memory fake', () => {
  const store = new FakeUsageStore();
  return { store, dayTtl: async (sub, day) => store.storedDay(sub, day)?.ttl };
});
