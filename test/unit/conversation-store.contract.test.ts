import { conversationStoreContract } from '../contracts/conversation-store';
import { FakeConversationStore } from '../fakes';

// The fake the unit tests trust, held to the same contract as the DynamoDB adapter.
conversationStoreContract('in-memory fake', (retention) => {
  const store = new FakeConversationStore(retention);
  return { store, ttlsOf: async (sub, id) => store.ttlsOf(sub, id), tokensOn: async (sub, day) => store.chargedOn(sub, day) };
});
