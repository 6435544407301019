import { conversationStoreContract } from '../contracts/conversation-store';
import { FakeConversationStore } from '../fakes';

// The fake the unit tests trust, held to the same contract as the DynamoDB adapter.
conversationStoreContract('in-memory fake', () => ({ store: new FakeConversationStore() }));
