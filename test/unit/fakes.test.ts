/**
 * The fakes hold the ports' contracts (as the DynamoDB and Scalekit adapters do), so the other unit
 * tests' races and refusals are real ones. If a fake drifted, those tests would prove nothing.
 */
import { describe, expect, it } from 'vitest';
import { LeaseUnavailable, type StoredMessage, type ToolRecord } from '../../functions/core/ports';
import { domainError, FakeConnectedAccounts, FakeConnectionStore, FakeConversationStore } from '../fakes';

const SUB = 'sub-alice';
const ID = 'c_0000000001000000000001';
const header = {
  id: ID,
  status: 'in_progress' as const,
  title: 't',
  createdAt: '2026-11-25T18:00:00.000Z',
  updatedAt: '2026-11-25T18:00:00.000Z',
  messageCount: 1,
  usage: { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
  pendingApprovals: [],
};
const message = (seq: number): StoredMessage => ({
  seq,
  role: seq % 2 === 0 ? 'user' : 'assistant',
  content: [{ type: 'text', text: String(seq) }],
  startsExchange: seq % 2 === 0,
  tokens: 5,
});
const record: ToolRecord = {
  toolUseId: 'toolu_1',
  name: 'asana_task_create',
  input: { a: 1 },
  inputHash: 'h1',
  actor: SUB,
  connection: 'asana',
};
const finish = {
  name: 'asana_task_create',
  input: { a: 1 },
  inputHash: 'h1',
  actor: SUB,
  connection: 'asana',
  outcome: 'succeeded' as const,
  result: 'ok',
  isError: false,
  finishedAt: 'now',
};

async function created() {
  const store = new FakeConversationStore();
  await store.create(SUB, header, message(0), { id: 'lease-1', now: 1_000, expiresAt: 2_000 });
  return store;
}

describe('FakeConversationStore', () => {
  it('refuses the lease while held and unexpired, grants it once expired, and only to the owner', async () => {
    // Prepare
    const store = await created();

    // Act
    const held = await store.acquire(SUB, ID, { id: 'lease-2', now: 2_000, expiresAt: 3_000 }).catch((error: unknown) => error);
    const expired = await store.acquire(SUB, ID, { id: 'lease-2', now: 2_001, expiresAt: 3_000 });
    const otherUser = await store.acquire('sub-bob', ID, { id: 'lease-3', now: 9_000, expiresAt: 10_000 });
    await store.release(SUB, ID, 'lease-1');

    // Assess
    expect(held).toBeInstanceOf(LeaseUnavailable);
    expect(expired?.id).toBe(ID);
    expect(otherUser).toBeUndefined();
    expect(store.leaseOf(SUB, ID)?.id).toBe('lease-2');
  });

  it('appends only at messageCount and only under the held lease', async () => {
    // Prepare
    const store = await created();
    const changes = { updatedAt: 'now', messageCount: 2 };

    // Act
    const wrongSeq = await domainError(() => store.append(SUB, ID, 'lease-1', message(2), changes));
    const wrongLease = await domainError(() => store.append(SUB, ID, 'lease-x', message(1), changes));
    await store.append(SUB, ID, 'lease-1', message(1), changes);
    const replay = await domainError(() => store.append(SUB, ID, 'lease-1', message(1), changes));
    const wrongLeaseUpdate = await domainError(() => store.update(SUB, ID, 'lease-x', { updatedAt: 'now', status: 'completed' }));

    // Assess
    expect([wrongSeq, wrongLease, replay, wrongLeaseUpdate].map((error) => error.code)).toEqual([
      'conversation_busy',
      'conversation_busy',
      'conversation_busy',
      'conversation_busy',
    ]);
    expect((await store.messages(SUB, ID)).map((stored) => stored.seq)).toEqual([0, 1]);
    expect((await store.get(SUB, ID))?.status).toBe('in_progress');
  });

  it('starts a tool once, forgets a start only before it finished, and finishes it once', async () => {
    // Prepare
    const store = await created();

    // Act
    const first = await store.startTool(SUB, ID, { ...record, startedAt: 'a' });
    const second = await store.startTool(SUB, ID, { ...record, startedAt: 'b' });
    await store.unstartTool(SUB, ID, 'toolu_1');
    const afterUnstart = await store.startTool(SUB, ID, { ...record, startedAt: 'c' });
    await store.finishTool(SUB, ID, 'toolu_1', finish);
    await store.unstartTool(SUB, ID, 'toolu_1');
    const twice = await store.finishTool(SUB, ID, 'toolu_1', finish).catch((error: unknown) => error);

    // Assess
    expect([first, second, afterUnstart]).toEqual([true, false, true]);
    expect(twice).toBeInstanceOf(Error);
    expect(await store.toolRecords(SUB, ID, ['toolu_1', 'toolu_missing'])).toEqual([
      expect.objectContaining({ startedAt: 'c', outcome: 'succeeded' }),
    ]);
  });

  it('records a decision once, only on a proposed record with the same input hash, and keeps it through start', async () => {
    // Prepare
    const store = await created();
    const decision = { decision: 'approve' as const, by: SUB, at: 'now', inputHash: 'h1' };

    // Act
    const unproposed = await store.decideTool(SUB, ID, 'toolu_1', decision);
    await store.proposeTool(SUB, ID, record);
    const wrongHash = await store.decideTool(SUB, ID, 'toolu_1', { ...decision, inputHash: 'h2' });
    const decided = await store.decideTool(SUB, ID, 'toolu_1', decision);
    const again = await store.decideTool(SUB, ID, 'toolu_1', { ...decision, decision: 'deny' });
    await store.startTool(SUB, ID, { ...record, startedAt: 's' });

    // Assess
    expect([unproposed, wrongHash, decided, again]).toEqual([false, false, true, false]);
    expect(store.recordsOf(SUB, ID)).toEqual([expect.objectContaining({ decision, startedAt: 's' })]);
  });
});

describe('FakeConnectionStore', () => {
  it('claims an issued state once, answers a repeat of a completed verify, and refuses everything else', async () => {
    // Prepare
    const store = new FakeConnectionStore();
    await store.putState(SUB, { state: 's1', connection: 'asana', createdAt: 0, expiresAt: 600_000 });

    // Act
    const claimed = await store.claimState(SUB, 's1', 'asana', 'ar1', 1_000);
    const whileClaimed = await store.claimState(SUB, 's1', 'asana', 'ar2', 2_000);
    const stale = await store.claimState(SUB, 's1', 'asana', 'ar2', 62_000);
    await store.completeState(SUB, 's1', 'ar2', { status: 'ACTIVE', account: null, checkedAt: '2026-01-01T00:00:00.000Z' });
    const repeat = await store.claimState(SUB, 's1', 'asana', 'ar2', 63_000);
    const otherRequest = await store.claimState(SUB, 's1', 'asana', 'ar1', 63_000);
    const otherUser = await store.claimState('sub-bob', 's1', 'asana', 'ar2', 63_000);

    // Assess
    expect([claimed, whileClaimed, stale, repeat, otherRequest, otherUser].map((claim) => claim.kind)).toEqual([
      'claimed',
      'refused',
      'claimed',
      'already_verified',
      'refused',
      'refused',
    ]);
  });

  it('refuses an expired state and gives a released claim back', async () => {
    // Prepare
    const store = new FakeConnectionStore();
    await store.putState(SUB, { state: 's1', connection: 'asana', createdAt: 0, expiresAt: 600_000 });

    // Act
    await store.claimState(SUB, 's1', 'asana', 'ar1', 1_000);
    await store.releaseState(SUB, 's1', 'ar-other');
    const notReleased = await store.claimState(SUB, 's1', 'asana', 'ar2', 2_000);
    await store.releaseState(SUB, 's1', 'ar1');
    const released = await store.claimState(SUB, 's1', 'asana', 'ar2', 3_000);
    const expired = await store.claimState(SUB, 's1', 'asana', 'ar3', 600_000);

    // Assess
    expect([notReleased, released, expired].map((claim) => claim.kind)).toEqual(['refused', 'claimed', 'refused']);
  });
});

describe('FakeConnectedAccounts', () => {
  it('verifies an auth request only for the identifier that consented, once', async () => {
    // Prepare
    const accounts = new FakeConnectedAccounts();
    const request = accounts.consent('alice');

    // Act
    const byBob = await accounts.verify('bob', request);
    const byAlice = await accounts.verify('alice', request);
    const replay = await accounts.verify('alice', request);

    // Assess
    expect([byBob, byAlice, replay]).toEqual(['refused', 'verified', 'refused']);
    expect(accounts.statusOf('alice')).toBe('ACTIVE');
    expect(accounts.statusOf('bob')).toBe('NOT_CONNECTED');
  });

  it('executes only for an ACTIVE account, and logs only what ran', async () => {
    // Prepare
    const accounts = new FakeConnectedAccounts();
    accounts.setStatus('alice', 'EXPIRED');

    // Act
    const refused = await accounts.execute('alice', 'asana', 'asana_tasks_list', {});
    accounts.setStatus('alice', 'ACTIVE');
    const ran = await accounts.execute('alice', 'asana', 'asana_tasks_list', {});

    // Assess
    expect(refused.kind).toBe('not_authorized');
    expect(ran.kind).toBe('succeeded');
    expect(accounts.executions).toHaveLength(1);
  });
});
