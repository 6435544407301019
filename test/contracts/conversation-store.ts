/**
 * The conversation store's contract, written once and run against every implementation: the
 * in-memory fake (`test/unit/`) and the DynamoDB adapter on DynamoDB Local (`test/integration/`).
 * Every case works under a fresh `sub`, so runs sharing one table never see each other.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fitWindow } from '../../functions/core/history';
import type { ConversationHeader, StoredMessage, ToolRecord, Usage } from '../../functions/core/domain';
import {
  type ConversationStore,
  type Lease,
  LeaseUnavailable,
  type Retention,
  type ToolCallBase,
  type ToolFinish,
  type ToolStart,
} from '../../functions/core/ports';
import { ManualClock } from '../fakes/clock';
import { expectBadPageToken, expectLeaseLost, expectRefused, failure } from './port-errors';

export interface ConversationStoreSubject {
  readonly store: ConversationStore;
  /** The stored `ttl` (epoch seconds) of every item of a conversation, by kind: `CONV`, `MSG#<seq>`, `TOOL#<toolUseId>`. */
  ttlsOf(sub: string, id: string): Promise<Record<string, number | undefined>>;
  /** The tokens charged to a caller's day (`USAGE#<day>`) by the store's writes. */
  tokensOn(sub: string, day: string): Promise<Usage | undefined>;
}

/** Opens a store that keeps conversations for `retention`. */
export type OpenConversationStore = (retention: Retention) => ConversationStoreSubject | Promise<ConversationStoreSubject>;

const DAY_MS = 86_400_000;

/** Retention as deployed by default, on a clock of its own that only the test moves. */
const retentionOf = (days = 90) => ({ days, clock: new ManualClock() });

/** A conversation id of the shape the service mints (creation time, then a counter). */
export const conversationId = (n: number): string => `c_${n.toString(36).padStart(10, '0')}${n.toString(16).padStart(12, '0')}`;

const USAGE = { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };

const headerOf = (id: string, overrides: Partial<ConversationHeader> = {}): ConversationHeader => ({
  id,
  status: 'in_progress',
  title: 'Plan the launch',
  createdAt: '2026-11-25T18:00:00.000Z',
  updatedAt: '2026-11-25T18:00:00.000Z',
  messageCount: 1,
  usage: USAGE,
  pendingApprovals: [],
  ...overrides,
});

/** How a header reads back: `truncated` is always a boolean. */
const read = (header: ConversationHeader): ConversationHeader => ({ ...header, truncated: header.truncated === true });

/** A message at `seq`: exchanges open on the user's words, then assistant and tool results alternate. */
const messageAt = (seq: number, startsExchange = seq === 0, tokens = 5): StoredMessage =>
  startsExchange
    ? { seq, role: 'user', content: [{ type: 'text', text: `ask ${seq} — ünïcode ✓` }], startsExchange: true, tokens }
    : seq % 2 === 1
      ? {
          seq,
          role: 'assistant',
          content: [
            { type: 'text', text: `answer ${seq}` },
            { type: 'tool_use', id: `toolu_${seq}`, name: 'asana_tasks_list', input: { project: 'p', nested: { n: seq } } },
          ],
          stopReason: 'tool_use',
          startsExchange: false,
          tokens,
        }
      : {
          seq,
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: `toolu_${seq - 1}`, content: '[]' }],
          startsExchange: false,
          tokens,
        };

const record = (sub: string, toolUseId = 'toolu_1'): ToolCallBase => ({
  toolUseId,
  name: 'asana_task_create',
  inputHash: 'hash-1',
  actor: sub,
  connection: 'asana',
});

const finishOf = (sub: string, overrides: Partial<ToolFinish> = {}): ToolFinish => ({
  toolUseId: 'toolu_1',
  name: 'asana_task_create',
  inputHash: 'hash-1',
  actor: sub,
  connection: 'asana',
  outcome: 'succeeded',
  result: '{"gid":"42"}',
  isError: false,
  finishedAt: '2026-11-25T18:00:02.000Z',
  executionId: 'exec-1',
  durationMs: 120,
  ...overrides,
});

const lease = (id: string, now: number, expiresAt = now + 1_000): Lease => ({ id, now, expiresAt });

/** What a settled promise did, to compare outcomes of racing calls. */
const outcome = (settled: PromiseSettledResult<unknown>) =>
  settled.status === 'fulfilled' ? 'ok' : settled.reason instanceof LeaseUnavailable ? 'unavailable' : String(settled.reason);

/** Proposes calls for approval as a run does: riding with a header write under the held lease. */
const propose = (store: ConversationStore, sub: string, id: string, records: readonly ToolCallBase[], leaseId = 'lease-1') =>
  store.update(sub, id, leaseId, { updatedAt: 'proposed' }, { proposed: records });

/** Starts one call; whether this call started it. */
const start = async (store: ConversationStore, sub: string, id: string, started: ToolStart, leaseId = 'lease-1') =>
  (await store.startTools(sub, id, leaseId, [started])).has(started.toolUseId);

/** Records how one call ended, riding with a header write (the result kept on the record). */
const finish = (store: ConversationStore, sub: string, id: string, finished: ToolFinish, leaseId = 'lease-1') =>
  store.update(sub, id, leaseId, { updatedAt: 'finished' }, { finished: [finished] });

export function conversationStoreContract(name: string, open: OpenConversationStore): void {
  /** A fresh user with one conversation whose lease `lease-1` is held until t=2000. */
  async function withConversation(overrides: Partial<ConversationHeader> = {}, retention = retentionOf()) {
    const subject = await open(retention);
    const { store } = subject;
    const sub = `sub-${randomUUID()}`;
    const id = conversationId(1);
    const header = headerOf(id, overrides);
    await store.create(sub, header, messageAt(0), lease('lease-1', 1_000, 2_000));
    return {
      store,
      sub,
      id,
      header,
      clock: retention.clock,
      ttlsOf: () => subject.ttlsOf(sub, id),
      tokensOn: (day: string) => subject.tokensOn(sub, day),
    };
  }

  /** Appends messages `from..to-1` under `leaseId`, moving the header's count along. */
  async function appendAll(store: ConversationStore, sub: string, id: string, leaseId: string, messages: readonly StoredMessage[]) {
    for (const message of messages) {
      await store.append(sub, id, leaseId, message, { updatedAt: `t${message.seq}`, messageCount: message.seq + 1 });
    }
  }

  describe(`ConversationStore contract: ${name}`, () => {
    describe('create and read', () => {
      it('reads back the header and the first message exactly as created', async () => {
        // Prepare
        const { store, sub, id, header } = await withConversation({ pendingApprovals: [{ toolUseId: 't', name: 'n', input: { a: 1 } }] });

        // Act
        const got = await store.get(sub, id);
        const messages = await store.messages(sub, id);

        // Assess
        expect(got).toEqual(read(header));
        expect(messages).toEqual([messageAt(0)]);
      });

      it('refuses to create a conversation over an existing one and keeps the first', async () => {
        // Prepare
        const { store, sub, id, header } = await withConversation();

        // Act
        const second = await failure(store.create(sub, headerOf(id, { title: 'other' }), messageAt(0), lease('lease-2', 5_000)));

        // Assess
        expectRefused(second);
        expect((await store.get(sub, id))?.title).toBe(header.title);
        expect(await failure(store.acquire(sub, id, lease('lease-3', 1_500)))).toBeInstanceOf(LeaseUnavailable);
      });

      it('answers not found for an unknown conversation', async () => {
        // Prepare
        const { store } = await open(retentionOf());
        const sub = `sub-${randomUUID()}`;
        const id = conversationId(7);

        // Act
        const results = {
          get: await store.get(sub, id),
          acquire: await store.acquire(sub, id, lease('l', 1)),
          messages: await store.messages(sub, id),
          window: await store.window(sub, id, 1_000),
          records: await store.toolRecords(sub, id),
          deleted: await store.delete(sub, id, 'l'),
        };

        // Assess
        expect(results).toEqual({ get: undefined, acquire: undefined, messages: [], window: [], records: [], deleted: false });
      });
    });

    describe('keyed by user', () => {
      it("never finds another user's conversation, whatever the id or lease", async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        await propose(store, sub, id, [record(sub)]);
        const mallory = `sub-${randomUUID()}`;

        // Act
        const seen = {
          get: await store.get(mallory, id),
          acquire: await store.acquire(mallory, id, lease('lease-m', 9_000)),
          list: (await store.list(mallory, 10, undefined)).items,
          messages: await store.messages(mallory, id),
          window: await store.window(mallory, id, 1_000),
          records: await store.toolRecords(mallory, id),
          byId: await store.toolRecords(mallory, id, ['toolu_1']),
          decided: await store.decideTool(mallory, id, 'toolu_1', { decision: 'approve', by: mallory, at: 'now', inputHash: 'hash-1' }),
          deleted: await store.delete(mallory, id, 'lease-1'),
        };

        // Assess
        expect(seen).toEqual({
          get: undefined,
          acquire: undefined,
          list: [],
          messages: [],
          window: [],
          records: [],
          byId: [],
          decided: false,
          deleted: false,
        });
        expect((await store.toolRecords(sub, id))[0]?.decision).toBeUndefined();
        expect(await store.get(sub, id)).toBeDefined();
      });

      it("refuses writes to another user's conversation even with the right lease id, and changes nothing", async () => {
        // Prepare
        const { store, sub, id, header } = await withConversation();
        const mallory = `sub-${randomUUID()}`;

        // Act
        const append = await failure(store.append(mallory, id, 'lease-1', messageAt(1), { updatedAt: 'x', messageCount: 2 }));
        const update = await failure(store.update(mallory, id, 'lease-1', { updatedAt: 'x', status: 'completed' }));

        // Assess
        expectLeaseLost(append);
        expectLeaseLost(update);
        expect(await store.get(sub, id)).toEqual(read(header));
        expect(await store.get(mallory, id)).toBeUndefined();
        expect(await store.messages(mallory, id)).toEqual([]);
      });
    });

    describe('leases', () => {
      it('is created holding the lease, refuses it while held (up to and at its expiry) and grants it once expired', async () => {
        // Prepare
        const { store, sub, id, header } = await withConversation();

        // Act
        const held = await failure(store.acquire(sub, id, lease('lease-2', 1_999, 3_000)));
        const atExpiry = await failure(store.acquire(sub, id, lease('lease-2', 2_000, 3_000)));
        const expired = await store.acquire(sub, id, lease('lease-2', 2_001, 3_000));

        // Assess
        expect(held).toBeInstanceOf(LeaseUnavailable);
        expect(atExpiry).toBeInstanceOf(LeaseUnavailable);
        expect(expired).toEqual(read(header));
      });

      it('gives the lease back only to its holder; a released lease is free at once', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();

        // Act
        await store.release(sub, id, 'lease-other');
        const afterWrongRelease = await failure(store.acquire(sub, id, lease('lease-2', 1_500)));
        await store.release(sub, id, 'lease-1');
        const afterRelease = await store.acquire(sub, id, lease('lease-2', 1_500));
        await store.release(sub, id, 'lease-1');
        const stillHeld = await failure(store.acquire(sub, id, lease('lease-3', 1_600)));

        // Assess
        expect(afterWrongRelease).toBeInstanceOf(LeaseUnavailable);
        expect(afterRelease?.id).toBe(id);
        expect(stillHeld).toBeInstanceOf(LeaseUnavailable);
      });

      it('grants a free lease to exactly one of two racing requests', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        await store.release(sub, id, 'lease-1');

        // Act
        const race = await Promise.allSettled([
          store.acquire(sub, id, lease('lease-a', 1_500)),
          store.acquire(sub, id, lease('lease-b', 1_500)),
        ]);

        // Assess
        expect(race.map(outcome).sort()).toEqual(['ok', 'unavailable']);
        const winner = race[0]?.status === 'fulfilled' ? 'lease-a' : 'lease-b';
        await store.update(sub, id, winner, { updatedAt: 'won' });
        expect((await store.get(sub, id))?.updatedAt).toBe('won');
      });

      it('refuses every write of a holder whose lease expired and was taken, and its release frees nothing', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        await propose(store, sub, id, [record(sub)]);
        await store.acquire(sub, id, lease('lease-2', 2_001, 5_000));

        // Act
        const append = await failure(store.append(sub, id, 'lease-1', messageAt(1), { updatedAt: 'late', messageCount: 2 }));
        const update = await failure(store.update(sub, id, 'lease-1', { updatedAt: 'late', status: 'completed' }));
        const remove = await failure(store.delete(sub, id, 'lease-1'));
        await store.release(sub, id, 'lease-1');
        const third = await failure(store.acquire(sub, id, lease('lease-3', 4_000, 6_000)));

        // Assess
        expectLeaseLost(append);
        expectLeaseLost(update);
        expectLeaseLost(remove);
        expect(third).toBeInstanceOf(LeaseUnavailable);
        expect(await store.get(sub, id)).toMatchObject({ status: 'in_progress', messageCount: 1 });
        expect((await store.messages(sub, id)).map((message) => message.seq)).toEqual([0]);
        expect(await store.toolRecords(sub, id)).toHaveLength(1);
        await store.append(sub, id, 'lease-2', messageAt(1), { updatedAt: 'new holder', messageCount: 2 });
        expect((await store.get(sub, id))?.messageCount).toBe(2);
      });
    });

    describe('conditional writes', () => {
      it('appends only at messageCount under the held lease, applying the header changes with the message', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        const usage = { inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 1, cacheReadInputTokens: 2 };

        // Act
        const skip = await failure(store.append(sub, id, 'lease-1', messageAt(2), { updatedAt: 'skip', messageCount: 3 }));
        const wrongLease = await failure(store.append(sub, id, 'lease-x', messageAt(1), { updatedAt: 'x', messageCount: 2 }));
        await store.append(sub, id, 'lease-1', messageAt(1), { updatedAt: 'a1', messageCount: 2, addUsage: usage, status: 'in_progress' });
        const replay = await failure(store.append(sub, id, 'lease-1', messageAt(1), { updatedAt: 'replay', messageCount: 2 }));

        // Assess
        expectLeaseLost(skip);
        expectLeaseLost(wrongLease);
        expectLeaseLost(replay);
        expect(await store.messages(sub, id)).toEqual([messageAt(0), messageAt(1)]);
        expect(await store.get(sub, id)).toMatchObject({ messageCount: 2, updatedAt: 'a1', usage });
      });

      it('never overwrites a stored message, even when the header count points at it', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        await store.append(sub, id, 'lease-1', messageAt(1), { updatedAt: 'a1', messageCount: 2 });
        await store.update(sub, id, 'lease-1', { updatedAt: 'rewound', messageCount: 1 });
        const other = { ...messageAt(1), content: [{ type: 'text', text: 'overwritten' }] } as StoredMessage;

        // Act
        const overwrite = await failure(store.append(sub, id, 'lease-1', other, { updatedAt: 'overwrite', messageCount: 2 }));

        // Assess
        expectLeaseLost(overwrite);
        expect(await store.messages(sub, id)).toEqual([messageAt(0), messageAt(1)]);
        expect(await store.get(sub, id)).toMatchObject({ messageCount: 1, updatedAt: 'rewound' });
      });

      it('updates only the fields given, under the held lease', async () => {
        // Prepare
        const { store, sub, id, header } = await withConversation();
        const pendingApprovals = [{ toolUseId: 'toolu_9', name: 'asana_task_delete', input: { task: '7' } }];

        // Act
        await store.update(sub, id, 'lease-1', { updatedAt: 'u1', status: 'awaiting_approval', pendingApprovals, truncated: true });
        const afterFirst = await store.get(sub, id);
        await store.update(sub, id, 'lease-1', { updatedAt: 'u2', pendingApprovals: [], status: undefined });

        // Assess
        expect(afterFirst).toEqual({ ...header, updatedAt: 'u1', status: 'awaiting_approval', pendingApprovals, truncated: true });
        expect(await store.get(sub, id)).toEqual({
          ...header,
          updatedAt: 'u2',
          status: 'awaiting_approval',
          pendingApprovals: [],
          truncated: true,
        });
      });

      it('deletes the conversation with its messages and tool records, only under the held lease', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        await appendAll(store, sub, id, 'lease-1', [messageAt(1), messageAt(2)]);
        await propose(store, sub, id, [record(sub, 'toolu_1')]);
        await start(store, sub, id, { ...record(sub, 'toolu_2'), startedAt: 's' });

        // Act
        const wrongLease = await failure(store.delete(sub, id, 'lease-x'));
        expectLeaseLost(wrongLease);
        const kept = {
          header: await store.get(sub, id),
          messages: await store.messages(sub, id),
          records: await store.toolRecords(sub, id),
        };
        const deleted = await store.delete(sub, id, 'lease-1');

        // Assess
        expect(kept.header?.messageCount).toBe(3);
        expect(kept.messages).toHaveLength(3);
        expect(kept.records).toHaveLength(2);
        expect(deleted).toBe(true);
        expect(await store.get(sub, id)).toBeUndefined();
        expect(await store.messages(sub, id)).toEqual([]);
        expect(await store.toolRecords(sub, id)).toEqual([]);
        expect((await store.list(sub, 10, undefined)).items).toEqual([]);
      });
    });

    describe("a run's writes", () => {
      const tokens = { inputTokens: 10, outputTokens: 20, cacheCreationInputTokens: 30, cacheReadInputTokens: 40 };
      const taking = (n: number) => ({ updatedAt: 'taken', messageCount: n, status: 'in_progress' as const, leaseExpiresAt: 9_000 });

      it('takes the lease with the next message in one write, only on the state the caller read', async () => {
        // Prepare: lease-1 expired at t=2000
        const { store, sub, id } = await withConversation({ status: 'completed' });
        const at = (leaseId: string, now: number) => lease(leaseId, now, 9_000);

        // Act
        const wrongSeq = await store.acquireWithMessage(sub, id, at('lease-a', 3_000), messageAt(2, true), ['completed'], taking(3));
        const wrongStatus = await store.acquireWithMessage(
          sub,
          id,
          at('lease-a', 3_000),
          messageAt(1, true),
          ['needs_authorization'],
          taking(2),
        );
        const otherUser = await store.acquireWithMessage(
          `sub-${randomUUID()}`,
          id,
          at('lease-m', 3_000),
          messageAt(1, true),
          ['completed'],
          taking(2),
        );
        const taken = await store.acquireWithMessage(
          sub,
          id,
          at('lease-a', 3_000),
          messageAt(1, true),
          ['needs_authorization', 'completed'],
          taking(2),
        );
        const held = await store.acquireWithMessage(sub, id, at('lease-b', 4_000), messageAt(2, true), ['in_progress'], taking(3));
        const busy = await failure(store.acquire(sub, id, lease('lease-c', 5_000)));

        // Assess
        expect({ wrongSeq, wrongStatus, otherUser, taken, held }).toEqual({
          wrongSeq: false,
          wrongStatus: false,
          otherUser: false,
          taken: true,
          held: false,
        });
        expect(busy).toBeInstanceOf(LeaseUnavailable);
        expect(await store.messages(sub, id)).toEqual([messageAt(0), messageAt(1, true)]);
        expect(await store.get(sub, id)).toMatchObject({ status: 'in_progress', messageCount: 2, updatedAt: 'taken' });
        await store.append(sub, id, 'lease-a', messageAt(2), { updatedAt: 'a2', messageCount: 3 });
        expect((await store.get(sub, id))?.messageCount).toBe(3);
      });

      it('carries the ended calls, the dropped copies, the token charge and the lease release in the same write', async () => {
        // Prepare: toolu_1 ran; toolu_2 ended in an earlier write that kept its result (a paused run)
        const { store, sub, id, tokensOn } = await withConversation();
        await start(store, sub, id, { ...record(sub), startedAt: 's' });
        await finish(store, sub, id, finishOf(sub, { toolUseId: 'toolu_2', outcome: 'denied', result: 'Denied', isError: true }));
        const charge = { day: '2026-11-30', tokens, expiresAt: 2_000_000_000 };

        // Act
        await store.append(
          sub,
          id,
          'lease-1',
          messageAt(1),
          { updatedAt: 'a1', messageCount: 2, addUsage: tokens, status: 'completed' },
          { finished: [finishOf(sub, { result: undefined, startedAt: 's' })], settled: ['toolu_2'], charge, release: true },
        );
        const late = await failure(store.update(sub, id, 'lease-1', { updatedAt: 'late' }));
        await store.acquire(sub, id, lease('lease-2', 1_500, 9_000));
        await store.update(sub, id, 'lease-2', { updatedAt: 'u2', addUsage: tokens }, { charge });

        // Assess
        expectLeaseLost(late);
        const records = (await store.toolRecords(sub, id, ['toolu_1', 'toolu_2'])).sort((a, b) => a.toolUseId.localeCompare(b.toolUseId));
        expect(records.map(({ toolUseId, outcome, result, startedAt }) => ({ toolUseId, outcome, result, startedAt }))).toEqual([
          { toolUseId: 'toolu_1', outcome: 'succeeded', result: undefined, startedAt: 's' },
          { toolUseId: 'toolu_2', outcome: 'denied', result: undefined, startedAt: undefined },
        ]);
        expect(await store.get(sub, id)).toMatchObject({
          status: 'completed',
          messageCount: 2,
          usage: { inputTokens: 20, outputTokens: 40, cacheCreationInputTokens: 60, cacheReadInputTokens: 80 },
        });
        expect(await tokensOn('2026-11-30')).toEqual({
          inputTokens: 20,
          outputTokens: 40,
          cacheCreationInputTokens: 60,
          cacheReadInputTokens: 80,
        });
        expect(await tokensOn('2026-12-01')).toBeUndefined();
      });

      it('reads a long message back exactly as written', async () => {
        // Prepare: tool results of many kilobytes, with text of every width
        const { store, sub, id } = await withConversation();
        const text = Array.from({ length: 400 }, (_, i) => `{"gid":"${i}","name":"Tâche ✓ ${i} 🚀"}`).join(',');
        const long: StoredMessage = {
          seq: 1,
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: `<untrusted_tool_output tool="t">[${text}]</untrusted_tool_output>` },
          ],
          startsExchange: false,
          tokens: 9_000,
        };

        // Act
        await store.append(sub, id, 'lease-1', long, { updatedAt: 'a1', messageCount: 2 });

        // Assess
        expect(await store.messages(sub, id)).toEqual([messageAt(0), long]);
        expect((await store.window(sub, id, 100_000)).at(-1)).toEqual(long);
      });

      it("writes a call's first record whole, once: never over another record of the call", async () => {
        // Prepare: toolu_2 was proposed for approval, so it has a record already
        const { store, sub, id } = await withConversation();
        await propose(store, sub, id, [record(sub, 'toolu_2')]);

        // Act
        await finish(store, sub, id, finishOf(sub, { whole: true, startedAt: 's' }));
        const again = await failure(finish(store, sub, id, finishOf(sub, { whole: true, outcome: 'failed' })));
        const overProposed = await failure(finish(store, sub, id, finishOf(sub, { toolUseId: 'toolu_2', whole: true })));

        // Assess
        expectRefused(again);
        expectRefused(overProposed);
        const records = (await store.toolRecords(sub, id)).sort((a, b) => a.toolUseId.localeCompare(b.toolUseId));
        expect(records).toEqual([
          { ...record(sub), ...finishOf(sub), startedAt: 's', isError: false },
          { ...record(sub, 'toolu_2'), isError: false },
        ]);
      });

      it('refuses a write whole when a call it records had already ended', async () => {
        // Prepare
        const { store, sub, id, header } = await withConversation();
        await finish(store, sub, id, finishOf(sub));

        // Act
        const twice = await failure(
          store.append(
            sub,
            id,
            'lease-1',
            messageAt(1),
            { updatedAt: 'a1', messageCount: 2 },
            { finished: [finishOf(sub, { outcome: 'failed' })] },
          ),
        );

        // Assess
        expectRefused(twice);
        expect(await store.messages(sub, id)).toEqual([messageAt(0)]);
        expect(await store.get(sub, id)).toMatchObject({ messageCount: header.messageCount, updatedAt: 'finished' });
        expect((await store.toolRecords(sub, id, ['toolu_1']))[0]?.outcome).toBe('succeeded');
      });

      it('starts a batch of calls in one write: each once, the ones started before left out, only under the held lease', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        const starts = ['toolu_a', 'toolu_b', 'toolu_c'].map((toolUseId) => ({ ...record(sub, toolUseId), startedAt: 's' }));
        await start(store, sub, id, starts[1]!);

        // Act
        const started = await store.startTools(sub, id, 'lease-1', starts);
        const again = await store.startTools(sub, id, 'lease-1', starts);
        const lost = await failure(store.startTools(sub, id, 'lease-x', [{ ...record(sub, 'toolu_d'), startedAt: 's' }]));
        const many = Array.from({ length: 120 }, (_, i) => ({ ...record(sub, `toolu_m${i}`), startedAt: 's' }));
        const all = await store.startTools(sub, id, 'lease-1', many);

        // Assess
        expect([...started].sort()).toEqual(['toolu_a', 'toolu_c']);
        expect([...again]).toEqual([]);
        expectLeaseLost(lost);
        expect(all.size).toBe(120);
        expect(await store.toolRecords(sub, id, ['toolu_d'])).toEqual([]);
      });
    });

    describe('tool records', () => {
      it('reads a proposed record back as written, and keeps the first of two proposals', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();

        // Act
        await propose(store, sub, id, [record(sub)]);
        await propose(store, sub, id, [{ ...record(sub), inputHash: 'hash-2' }]);

        // Assess
        expect(await store.toolRecords(sub, id)).toEqual([{ ...record(sub), isError: false }]);
      });

      it('records a decision once, only on a proposed record with the same input hash, and keeps it through start and finish', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        const decision = { decision: 'approve' as const, by: sub, at: '2026-11-25T18:00:01.000Z', inputHash: 'hash-1' };

        // Act
        const unproposed = await store.decideTool(sub, id, 'toolu_1', decision);
        await propose(store, sub, id, [record(sub)]);
        const wrongHash = await store.decideTool(sub, id, 'toolu_1', { ...decision, inputHash: 'hash-2' });
        const decided = await store.decideTool(sub, id, 'toolu_1', decision);
        const again = await store.decideTool(sub, id, 'toolu_1', { ...decision, decision: 'deny' });
        await start(store, sub, id, { ...record(sub), startedAt: 's' });
        await finish(store, sub, id, finishOf(sub, { startedAt: 's' }));

        // Assess
        expect([unproposed, wrongHash, decided, again]).toEqual([false, false, true, false]);
        expect(await store.toolRecords(sub, id, ['toolu_1'])).toEqual([
          { ...record(sub), ...finishOf(sub), toolUseId: 'toolu_1', startedAt: 's', decision },
        ]);
      });

      it('starts a tool exactly once, forgets a start only before it finished, and finishes it once', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();

        // Act
        const first = await start(store, sub, id, { ...record(sub), startedAt: 'a' });
        const second = await start(store, sub, id, { ...record(sub), startedAt: 'b' });
        await store.unstartTool(sub, id, 'toolu_1');
        const afterUnstart = await start(store, sub, id, { ...record(sub), startedAt: 'c' });
        await finish(store, sub, id, finishOf(sub, { startedAt: 'c' }));
        await store.unstartTool(sub, id, 'toolu_1');
        await store.unstartTool(sub, id, 'toolu_never');
        const twice = await failure(finish(store, sub, id, finishOf(sub, { outcome: 'failed', result: 'second', isError: true })));

        // Assess
        expect([first, second, afterUnstart]).toEqual([true, false, true]);
        expectRefused(twice);
        expect(await store.toolRecords(sub, id, ['toolu_1', 'toolu_never'])).toEqual([
          { ...record(sub), ...finishOf(sub), toolUseId: 'toolu_1', startedAt: 'c' },
        ]);
      });

      it('starts a tool exactly once when two requests race for it', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();

        // Act
        const starts = await Promise.all([
          start(store, sub, id, { ...record(sub), startedAt: 'a' }),
          start(store, sub, id, { ...record(sub), startedAt: 'b' }),
        ]);

        // Assess
        expect(starts.filter(Boolean)).toHaveLength(1);
      });

      it('finishes a tool that was never started (a refusal recorded as an outcome)', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();

        // Act
        await finish(
          store,
          sub,
          id,
          finishOf(sub, { toolUseId: 'toolu_5', outcome: 'denied', result: 'Denied', isError: true, executionId: undefined }),
        );

        // Assess
        const [stored] = await store.toolRecords(sub, id, ['toolu_5']);
        expect(stored).toEqual({
          ...record(sub, 'toolu_5'),
          ...finishOf(sub, { toolUseId: 'toolu_5', outcome: 'denied', result: 'Denied', isError: true }),
          executionId: undefined,
        });
      });

      it('reads the records asked for (any order, missing ones left out) or all of a conversation', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        const other = conversationId(2);
        await store.create(sub, headerOf(other), messageAt(0), lease('lease-o', 1_000));
        await propose(
          store,
          sub,
          id,
          ['toolu_c', 'toolu_a', 'toolu_b'].map((toolUseId) => record(sub, toolUseId)),
        );
        await propose(store, sub, other, [record(sub, 'toolu_z')], 'lease-o');
        const ids = (records: readonly ToolRecord[]) => records.map((stored) => stored.toolUseId).sort();

        // Act
        const asked = await store.toolRecords(sub, id, ['toolu_b', 'toolu_missing', 'toolu_a', 'toolu_z']);
        const all = await store.toolRecords(sub, id);
        const none = await store.toolRecords(sub, id, []);

        // Assess
        expect(ids(asked)).toEqual(['toolu_a', 'toolu_b']);
        expect(ids(all)).toEqual(['toolu_a', 'toolu_b', 'toolu_c']);
        expect(none).toEqual([]);
      });

      it('reads more records than one batch read holds', async () => {
        // Prepare
        const { store, sub, id } = await withConversation();
        const toolUseIds = Array.from({ length: 101 }, (_, i) => `toolu_${String(i).padStart(3, '0')}`);
        // A write holds at most 100 items: the proposals ride in two.
        await propose(
          store,
          sub,
          id,
          toolUseIds.slice(0, 60).map((toolUseId) => record(sub, toolUseId)),
        );
        await propose(
          store,
          sub,
          id,
          toolUseIds.slice(60).map((toolUseId) => record(sub, toolUseId)),
        );

        // Act
        const asked = await store.toolRecords(sub, id, toolUseIds);
        const all = await store.toolRecords(sub, id);

        // Assess
        expect(asked.map((stored) => stored.toolUseId).sort()).toEqual(toolUseIds);
        expect(all.map((stored) => stored.toolUseId).sort()).toEqual(toolUseIds);
      });
    });

    describe('paging', () => {
      async function withConversations(count: number) {
        const { store } = await open(retentionOf());
        const sub = `sub-${randomUUID()}`;
        const ids = Array.from({ length: count }, (_, i) => conversationId(1_000 + i));
        for (const id of ids) await store.create(sub, headerOf(id, { title: id }), messageAt(0), lease('l', 1));
        // Items of another kind under the same user must never show up in the list.
        if (ids[0]) await appendAll(store, sub, ids[0], 'l', [messageAt(1)]);
        if (ids[0]) await propose(store, sub, ids[0], [record(sub)], 'l');
        return { store, sub, newestFirst: [...ids].reverse() };
      }

      async function everyPage(store: ConversationStore, sub: string, limit: number) {
        const pages: string[][] = [];
        let token: string | undefined;
        do {
          const page = await store.list(sub, limit, token);
          pages.push(page.items.map((item) => item.id));
          token = page.nextToken ?? undefined;
        } while (token !== undefined && pages.length < 20);
        return pages;
      }

      it('lists newest first in pages, with a token only when another page exists', async () => {
        // Prepare
        const { store, sub, newestFirst } = await withConversations(5);

        // Act
        const byTwo = await everyPage(store, sub, 2);
        const all = await store.list(sub, 5, undefined);
        const more = await store.list(sub, 10, undefined);

        // Assess
        expect(byTwo).toEqual([newestFirst.slice(0, 2), newestFirst.slice(2, 4), newestFirst.slice(4)]);
        expect(all.items.map((item) => item.id)).toEqual(newestFirst);
        expect(all.nextToken).toBeNull();
        expect(more.nextToken).toBeNull();
        expect(all.items[0]).toEqual(read(headerOf(newestFirst[0]!, { title: newestFirst[0]! })));
      });

      it('gives no token when the last page is exactly full', async () => {
        // Prepare
        const { store, sub, newestFirst } = await withConversations(4);

        // Act
        const pages = await everyPage(store, sub, 2);

        // Assess
        expect(pages).toEqual([newestFirst.slice(0, 2), newestFirst.slice(2)]);
      });

      it('lists nothing for a user without conversations', async () => {
        // Prepare
        const { store } = await open(retentionOf());

        // Act
        const page = await store.list(`sub-${randomUUID()}`, 10, undefined);

        // Assess
        expect(page).toEqual({ items: [], nextToken: null });
      });

      it('issues opaque tokens that do not spell the key', async () => {
        // Prepare
        const { store, sub } = await withConversations(3);

        // Act
        const { nextToken } = await store.list(sub, 1, undefined);

        // Assess
        expect(nextToken).toEqual(expect.any(String));
        expect(nextToken).not.toContain('#');
        expect(nextToken).not.toContain(conversationId(1_002));
      });

      it('refuses tokens it did not issue: garbage, empty, other kinds of keys, or an id with more after it', async () => {
        // Prepare
        const { store, sub } = await withConversations(3);
        const token = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
        const forged = [
          'not a token!',
          '',
          conversationId(1_001),
          token(`MSG#${conversationId(1_001)}#00000001`),
          token('CONN#asana'),
          token('STATE#s1'),
          token(`CONV#${conversationId(1_001)}#x`),
          token(`CONV#${conversationId(1_001)}\u0000`),
          token('CONV#'),
          token(`CONV#../${conversationId(1_001)}`),
        ];

        // Act and assess
        for (const nextToken of forged) expectBadPageToken(await failure(store.list(sub, 2, nextToken)));
      });

      it("pages from a token's position only through the caller's own conversations", async () => {
        // Prepare
        const { store, sub } = await withConversations(5);
        const mallory = `sub-${randomUUID()}`;
        await store.create(mallory, headerOf(conversationId(1_100)), messageAt(0), lease('l', 1));
        await store.create(mallory, headerOf(conversationId(1_001)), messageAt(0), lease('l', 1));
        const { nextToken } = await store.list(sub, 2, undefined);

        // Act
        const malloryPage = await store.list(mallory, 10, nextToken ?? undefined);

        // Assess
        expect(nextToken).not.toBeNull();
        expect(malloryPage.items).toEqual([read(headerOf(conversationId(1_001)))]);
      });
    });

    describe('retention', () => {
      /** The `ttl` of an item written at `at` (ms) kept `days`. */
      const expiry = (at: number, days = 90) => Math.floor(at / 1000) + days * 86_400;

      it('stamps every item with its write time plus the retention, and moves it on each write to that item', async () => {
        // Prepare
        const { store, sub, id, clock, ttlsOf } = await withConversation({}, retentionOf(30));
        const created = clock.now();

        // Act
        clock.advance(DAY_MS);
        await appendAll(store, sub, id, 'lease-1', [messageAt(1)]);
        const appended = clock.now();
        clock.advance(DAY_MS);
        await propose(store, sub, id, [record(sub)]);
        const proposed = await ttlsOf();
        clock.advance(DAY_MS);
        await start(store, sub, id, { ...record(sub), startedAt: 's' });
        const started = await ttlsOf();
        clock.advance(DAY_MS);
        await finish(store, sub, id, finishOf(sub, { startedAt: 's' }));
        clock.advance(DAY_MS);
        await store.update(sub, id, 'lease-1', { updatedAt: 'later', status: 'completed' });

        // Assess
        const day = (n: number) => created + n * DAY_MS;
        expect(proposed['TOOL#toolu_1']).toBe(expiry(day(2), 30));
        // A start is marked on the header (the call's record is written when it ends).
        expect(started.CONV).toBe(expiry(day(3), 30));
        expect(await ttlsOf()).toEqual({
          CONV: expiry(day(5), 30),
          'MSG#0': expiry(created, 30),
          'MSG#1': expiry(appended, 30),
          'TOOL#toolu_1': expiry(day(4), 30),
        });
      });

      it('forgets a conversation whose header expired: not found, not listed, not taken, not deleted', async () => {
        // Prepare: one conversation from day 0, another from day 30.
        const retention = retentionOf();
        const { store, sub, id, clock } = await withConversation({}, retention);
        clock.advance(30 * DAY_MS);
        const later = conversationId(2);
        await store.create(sub, headerOf(later), messageAt(0), lease('lease-2', 1));
        clock.advance(60 * DAY_MS - 1_000);
        const lastSecond = { get: await store.get(sub, id), list: (await store.list(sub, 10, undefined)).items.map((item) => item.id) };

        // Act
        clock.advance(1_000);
        const results = {
          get: await store.get(sub, id),
          list: await store.list(sub, 10, undefined),
          firstOfOne: await store.list(sub, 1, undefined),
          acquire: await store.acquire(sub, id, lease('lease-3', 5_000)),
          deleted: await store.delete(sub, id, 'lease-1'),
        };

        // Assess
        expect(lastSecond.get?.id).toBe(id);
        expect(lastSecond.list).toEqual([later, id]);
        expect(results).toEqual({
          get: undefined,
          list: { items: [read(headerOf(later))], nextToken: null },
          firstOfOne: { items: [read(headerOf(later))], nextToken: null },
          acquire: undefined,
          deleted: false,
        });
      });

      it('drops an exchange whose opening message expired, even while its later messages are kept', async () => {
        // Prepare: exchange 0–3 on day 0; exchange 4–7 opened on day 10, its tool use and result on day 12.
        const { store, sub, id, clock } = await withConversation();
        const first = [messageAt(1), messageAt(2), messageAt(3)];
        await appendAll(store, sub, id, 'lease-1', first);
        clock.advance(10 * DAY_MS);
        await appendAll(store, sub, id, 'lease-1', [messageAt(4, true)]);
        clock.advance(2 * DAY_MS);
        const second = [messageAt(4, true), messageAt(5), messageAt(6), messageAt(7)];
        await appendAll(store, sub, id, 'lease-1', second.slice(1));
        const readBack = async () => ({ messages: await store.messages(sub, id), window: await store.window(sub, id, 1_000) });

        // Act
        clock.advance(78 * DAY_MS); // day 90: the first exchange has expired
        const afterFirst = await readBack();
        clock.advance(10 * DAY_MS); // day 100: the second exchange's opening message has expired, the rest not
        const afterOpening = await readBack();
        const header = await store.get(sub, id);
        await appendAll(store, sub, id, 'lease-1', [messageAt(8, true), messageAt(9)]);
        const afterNewExchange = await readBack();

        // Assess
        expect(afterFirst).toEqual({ messages: second, window: second });
        expect(afterOpening).toEqual({ messages: [], window: [] });
        expect(header?.messageCount).toBe(8);
        expect(afterNewExchange).toEqual({ messages: [messageAt(8, true), messageAt(9)], window: [messageAt(8, true), messageAt(9)] });
      });

      it('leaves expired tool records out of every read', async () => {
        // Prepare
        const { store, sub, id, clock } = await withConversation();
        await propose(store, sub, id, [record(sub, 'toolu_old')]);
        clock.advance(DAY_MS);
        await propose(store, sub, id, [record(sub, 'toolu_new')]);

        // Act
        clock.advance(90 * DAY_MS - 1);
        const ids = (records: ToolRecord[]) => records.map((stored) => stored.toolUseId).sort();
        const all = ids(await store.toolRecords(sub, id));
        const asked = ids(await store.toolRecords(sub, id, ['toolu_old', 'toolu_new']));

        // Assess
        expect({ all, asked }).toEqual({ all: ['toolu_new'], asked: ['toolu_new'] });
      });
    });

    describe('history window', () => {
      /**
       * A long history of exchanges of uneven lengths (one longer than a page of the adapter's
       * reads), uneven token counts. Built once for the read-only cases below.
       */
      let history: ReturnType<typeof buildHistory> | undefined;
      const withHistory = () => (history ??= buildHistory());
      async function buildHistory() {
        const { store, sub, id } = await withConversation();
        const exchangeLengths = [3, 1, 42, 2, 5, 4];
        const starts = new Set<number>();
        let at = 0;
        for (const length of exchangeLengths) {
          starts.add(at);
          at += length;
        }
        const all = Array.from({ length: at }, (_, seq) =>
          seq === 0 ? messageAt(0) : messageAt(seq, starts.has(seq), 3 + ((seq * 7) % 11)),
        );
        await appendAll(store, sub, id, 'lease-1', all.slice(1));
        return { store, sub, id, all };
      }

      it('reads every message back in order', async () => {
        // Prepare
        const { store, sub, id, all } = await withHistory();

        // Act
        const messages = await store.messages(sub, id);

        // Assess
        expect(messages).toEqual(all);
      });

      it('reads the newest whole exchanges that fit the budget, oldest first, the newest exchange always', async () => {
        // Prepare
        const { store, sub, id, all } = await withHistory();
        const total = all.reduce((sum, message) => sum + message.tokens, 0);
        const budgets = [0, 1, 30, 60, 200, 420, 700, total - 1, total, 10 * total];

        // Act
        const windows = [];
        for (const budget of budgets) windows.push(await store.window(sub, id, budget));

        // Assess
        windows.forEach((window, i) => {
          expect(window, `budget ${budgets[i]}`).toEqual(fitWindow(all, budgets[i]!));
          expect(window[0]?.startsExchange).toBe(true);
          expect(window.at(-1)?.seq).toBe(all.length - 1);
        });
        expect(windows.at(-1)).toEqual(all);
        expect(windows[0]!.length).toBeLessThan(all.length);
      });
    });
  });
}
