/**
 * Scenario 1 — orchestration overhead per turn: a multi-turn conversation whose model and tools
 * answer in 0 ms, so what is left is ours: the gateway, token checks, DynamoDB, Scalekit RPCs.
 */
import { type Bench, marker, script, setModelLatency, setToolLatency, textTurn, threeReads, toolTurn, turn, user } from './harness';
import { type Cost, measure, type Scenario } from './scenario';
import { median, medianByKey, percentile, round } from './stats';
import { sumCounts } from './meters';

export const BENCH_USER_SOLO = 'alice';
export const PUBLIC_PROJECT = '1301';

/** Per-turn figures from a list of costs. */
export function perTurn(costs: readonly Cost[]) {
  const dynamo = costs.map((cost) => cost.dynamo).filter((tally) => tally !== undefined);
  const rpcs = costs.map((cost) => cost.rpcs).filter((counts) => counts !== undefined);
  return {
    wallMs: median(costs.map((cost) => cost.time.wallMs)),
    p95Ms: percentile(
      costs.map((cost) => cost.time.wallMs),
      95,
    ),
    modelMs: median(costs.map((cost) => cost.time.modelMs)),
    scalekitMs: median(costs.map((cost) => cost.time.scalekitMs)),
    dynamodbMs: median(costs.map((cost) => cost.time.dynamodbMs)),
    otherMs: median(costs.map((cost) => cost.time.otherMs)),
    dynamoRequests: dynamo.length ? median(dynamo.map((tally) => tally.requests)) : null,
    dynamoReads: dynamo.length ? median(dynamo.map((tally) => tally.reads)) : null,
    dynamoWrites: dynamo.length ? median(dynamo.map((tally) => tally.writes)) : null,
    bytesWritten: dynamo.length ? median(dynamo.map((tally) => tally.bytesWritten)) : null,
    itemsRead: dynamo.length ? median(dynamo.map((tally) => tally.itemsRead)) : null,
    dynamoByOperation: dynamo.length ? medianByKey(dynamo.map((tally) => tally.byOperation)) : null,
    bytesWrittenByOperation: dynamo.length ? medianByKey(dynamo.map((tally) => tally.bytesWrittenByOperation)) : null,
    scalekitRpcs: rpcs.length ? median(rpcs.map(sumCounts)) : null,
    scalekitByMethod: rpcs.length ? medianByKey(rpcs) : null,
  };
}

export const orchestration: Scenario = {
  id: 'orchestration',
  number: 1,
  title: 'Orchestration overhead per turn (model and tools at 0 ms)',
  async run(bench: Bench) {
    const turns = bench.quick ? 4 : 8;
    const repetitions = bench.quick ? 2 : 5;
    const caller = await user(bench, BENCH_USER_SOLO);
    await setModelLatency(bench, 0);
    await setToolLatency(bench, 0);
    const firstTurns: Cost[] = [];
    const laterTurns: Cost[] = [];
    for (let rep = 0; rep < repetitions; rep++) {
      const tag = marker(`orchestration-${rep}`);
      await script(
        bench,
        tag,
        Array.from({ length: turns }, (_, t) => [toolTurn(threeReads(PUBLIC_PROJECT)), textTurn(`Answer ${t + 1}.`)]).flat(),
      );
      let id: string | undefined;
      for (let t = 0; t < turns; t++) {
        const done = measure(bench);
        const reply = await turn(bench, caller, id, t === 0 ? `${tag} question 1` : `question ${t + 1}`, {
          reply: `Answer ${t + 1}.`,
          tools: 3,
        });
        id = reply.outcome.conversationId;
        (t === 0 ? firstTurns : laterTurns).push(done(reply));
      }
    }
    const later = perTurn(laterTurns);
    const first = perTurn(firstTurns);
    return {
      settings: {
        turnsPerConversation: turns,
        repetitions,
        toolCallsPerTurn: 3,
        modelLatencyMs: 0,
        toolLatencyMs: 0,
        user: BENCH_USER_SOLO,
      },
      figures: [
        { label: 'wall time per turn (median)', value: round(later.wallMs), unit: 'ms' },
        { label: 'wall time per turn (p95)', value: round(later.p95Ms), unit: 'ms' },
        { label: '  of which waiting on the model stand-in', value: round(later.modelMs), unit: 'ms' },
        { label: '  of which waiting on Scalekit (+ Asana)', value: round(later.scalekitMs), unit: 'ms' },
        { label: '  of which waiting on DynamoDB', value: round(later.dynamodbMs), unit: 'ms' },
        { label: '  of which nothing in flight (ours, gateway, JWT)', value: round(later.otherMs), unit: 'ms' },
        { label: 'DynamoDB requests per turn', value: later.dynamoRequests, unit: formatMethods(later.dynamoByOperation) },
        {
          label: 'DynamoDB bytes written per turn',
          value: later.bytesWritten === null ? null : Math.round(later.bytesWritten),
          unit: `B ${formatMethods(later.bytesWrittenByOperation)}`.trim(),
        },
        { label: 'Scalekit RPCs per turn', value: later.scalekitRpcs, unit: formatMethods(later.scalekitByMethod) },
        { label: 'first turn (new conversation)', value: round(first.wallMs), unit: 'ms' },
      ],
      details: { laterTurns: later, firstTurn: first, samples: laterTurns.map((cost) => round(cost.time.wallMs)) },
      notes: bench.inProcess ? [] : ['DynamoDB and Scalekit counts need the handlers in this process (not with --reuse).'],
    };
  },
};

export function formatMethods(counts: Record<string, number> | null): string {
  if (!counts) return '';
  return `(${Object.entries(counts)
    .map(([method, count]) => `${method} ${Math.round(count)}`)
    .join(', ')})`;
}
