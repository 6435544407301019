/**
 * Scenario 4 — growth: the cost of one more turn of a conversation already 10, 100 and 1,000
 * messages long. Writes should not grow with the length (one item per message); reads should
 * stop at the history window (the token budget), not at the conversation's length.
 */
import { DynamoConversationStore } from '../../functions/adapters/conversation-store';
import { createDocumentClient } from '../../functions/adapters/dynamodb';
import { newConversationId } from '../../functions/chat/deps';
import { estimateTokens } from '../../functions/core/history';
import type { StoredMessage } from '../../functions/core/domain';
import { type Bench, setModelLatency, setToolLatency, turn, user } from './harness';
import { measure, type Cost, type Scenario } from './scenario';
import { median, round } from './stats';
import { BENCH_USER_SOLO } from './orchestration';

const LENGTHS = [10, 100, 1000] as const;
/** About 1 KB of text per stored message (~265 estimated tokens): the default 100k-token window holds ~375. */
const FILLER = 'lorem ipsum dolor sit amet '.repeat(38);

const storedMessage = (seq: number): StoredMessage => {
  const isUser = seq % 2 === 0;
  const content = [{ type: 'text' as const, text: `${isUser ? 'question' : 'answer'} ${seq}: ${FILLER}` }];
  return {
    seq,
    role: isUser ? 'user' : 'assistant',
    content,
    stopReason: isUser ? undefined : 'end_turn',
    startsExchange: isUser,
    tokens: estimateTokens(content),
  };
};

/** Writes a completed conversation of `length` messages straight through the store (as the reliability e2e does). */
async function buildConversation(store: DynamoConversationStore, sub: string, length: number): Promise<string> {
  const id = newConversationId();
  const now = new Date().toISOString();
  const lease = { id: 'bench-builder', now: Date.now(), expiresAt: Date.now() + 600_000 };
  await store.create(
    sub,
    {
      id,
      status: 'completed',
      title: `bench growth ${length}`,
      createdAt: now,
      updatedAt: now,
      messageCount: 1,
      usage: { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
      pendingApprovals: [],
    },
    storedMessage(0),
    lease,
  );
  for (let seq = 1; seq < length; seq++) {
    await store.append(sub, id, lease.id, storedMessage(seq), { updatedAt: now, messageCount: seq + 1 });
  }
  await store.release(sub, id, lease.id);
  return id;
}

export const growth: Scenario = {
  id: 'growth',
  number: 4,
  title: 'Growth: one more turn at 10, 100, 1,000 messages',
  async run(bench: Bench) {
    const repetitions = bench.quick ? 2 : 5;
    const caller = await user(bench, BENCH_USER_SOLO);
    await setModelLatency(bench, 0);
    await setToolLatency(bench, 0);
    const builderDb = createDocumentClient({ region: bench.facts.cognito.region, endpoint: bench.facts.dynamodbUrl });
    const store = new DynamoConversationStore(builderDb, bench.facts.tableName);
    const costs = new Map<number, Cost[]>(LENGTHS.map((length) => [length, []]));
    const buildMs: Record<number, number[]> = {};
    try {
      for (let rep = 0; rep < repetitions; rep++) {
        for (const length of LENGTHS) {
          // A fresh conversation each time, so every sample is a turn at exactly this length.
          const started = Date.now();
          const id = await buildConversation(store, caller.sub, length);
          (buildMs[length] ??= []).push(Date.now() - started);
          const done = measure(bench);
          // The stand-in's planner answers this from tool results (no script: the window may not hold the first message).
          const reply = await turn(bench, caller, id, 'List my open tasks');
          costs.get(length)!.push(done(reply));
        }
      }
    } finally {
      builderDb.destroy();
    }

    const at = (length: number) => {
      const samples = costs.get(length)!;
      const dynamo = samples.map((cost) => cost.dynamo).filter((tally) => tally !== undefined);
      const of = (pick: (tally: NonNullable<Cost['dynamo']>) => number) => (dynamo.length ? Math.round(median(dynamo.map(pick))) : null);
      return {
        wallMs: round(median(samples.map((cost) => cost.time.wallMs))),
        modelMs: round(median(samples.map((cost) => cost.time.modelMs))),
        dynamodbMs: round(median(samples.map((cost) => cost.time.dynamodbMs))),
        writes: of((tally) => tally.writes),
        bytesWritten: of((tally) => tally.bytesWritten),
        readRequests: of((tally) => tally.reads),
        itemsRead: of((tally) => tally.itemsRead),
        bytesRead: of((tally) => tally.bytesRead),
      };
    };
    const figures = LENGTHS.map((length) => ({ length, ...at(length) }));
    return {
      settings: {
        lengths: LENGTHS,
        repetitions,
        bytesPerStoredMessage: Buffer.byteLength(FILLER) + 20,
        historyTokenBudget: 100_000,
        model: 'planner ("List my open tasks")',
      },
      figures: figures.flatMap((f) => [
        {
          label: `${f.length} msgs: wall time of one more turn`,
          value: f.wallMs,
          unit: `ms (model stand-in ${f.modelMs} ms, DynamoDB ${f.dynamodbMs} ms)`,
        },
        {
          label: `${f.length} msgs: DynamoDB writes / bytes written`,
          value: f.writes === null ? null : `${f.writes} / ${f.bytesWritten}`,
          unit: 'requests / B',
        },
        {
          label: `${f.length} msgs: DynamoDB reads / items read`,
          value: f.readRequests === null ? null : `${f.readRequests} / ${f.itemsRead}`,
          unit: `requests / items (${f.bytesRead ?? 'n/a'} B)`,
        },
      ]),
      details: { byLength: figures, buildMs },
      notes: bench.inProcess ? [] : ['DynamoDB counts need the handlers in this process (not with --reuse): only times are reported.'],
    };
  },
};
