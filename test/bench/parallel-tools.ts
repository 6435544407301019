/**
 * Scenario 3 — parallel tools: one turn asking for 1, 2, 4 and 8 tool calls of 200 ms each (model
 * at 0 ms). Run one after another, 8 calls would take 8× one call; in parallel they take ~1×.
 */
import {
  type Bench,
  executionCursor,
  executions,
  marker,
  script,
  setModelLatency,
  setToolLatency,
  textTurn,
  toolTurn,
  turn,
  user,
} from './harness';
import { BENCH_USER_SOLO } from './orchestration';
import type { Scenario } from './scenario';
import { median, round } from './stats';

const TOOL_MS = 200;
const SIZES = [1, 2, 4, 8] as const;

export const parallelTools: Scenario = {
  id: 'parallel',
  number: 3,
  title: 'Parallel tools: one turn with 1, 2, 4, 8 tool calls of 200 ms',
  async run(bench: Bench) {
    const repetitions = bench.quick ? 2 : 5;
    const caller = await user(bench, BENCH_USER_SOLO);
    const wall = new Map<number, number[]>(SIZES.map((n) => [n, []]));
    const toolPhase = new Map<number, number[]>(SIZES.map((n) => [n, []]));
    await setModelLatency(bench, 0);
    await setToolLatency(bench, TOOL_MS);
    try {
      for (let rep = 0; rep < repetitions; rep++) {
        // Rotate the order of sizes each repetition.
        const order = SIZES.map((_, i) => SIZES[(i + rep) % SIZES.length]!);
        for (const n of order) {
          const tag = marker(`parallel-${n}-${rep}`);
          await script(bench, tag, [toolTurn(Array.from({ length: n }, () => ({ name: 'asana_me_get', input: {} }))), textTurn('Done.')]);
          const since = await executionCursor(bench);
          const reply = await turn(bench, caller, undefined, `${tag} who am I, ${n} times`, { reply: 'Done.', tools: n });
          wall.get(n)!.push(reply.ms);
          const ran = (await executions(bench, since)).filter((execution) => execution.identifier === caller.sub);
          if (ran.length !== n) throw new Error(`expected ${n} executions, saw ${ran.length}`);
          const start = Math.min(...ran.map((execution) => Date.parse(execution.startedAt)));
          const end = Math.max(...ran.map((execution) => Date.parse(execution.finishedAt)));
          toolPhase.get(n)!.push(end - start);
        }
      }
    } finally {
      await setToolLatency(bench, 0);
    }
    const wallOf = (n: number) => median(wall.get(n)!);
    const phaseOf = (n: number) => median(toolPhase.get(n)!);
    return {
      settings: { toolLatencyMs: TOOL_MS, modelLatencyMs: 0, repetitions, sizes: SIZES },
      figures: SIZES.flatMap((n) => [
        {
          label: `${n} call${n > 1 ? 's' : ''}: turn wall time`,
          value: round(wallOf(n)),
          unit: `ms (${round(wallOf(n) / wallOf(1), 2)}× the 1-call turn; sequential would be ≈${n}×)`,
        },
        {
          label: `${n} call${n > 1 ? 's' : ''}: tool phase (first start → last finish)`,
          value: round(phaseOf(n)),
          unit: `ms (${round(phaseOf(n) / phaseOf(1), 2)}×)`,
        },
      ]),
      details: {
        wallMs: Object.fromEntries(SIZES.map((n) => [n, wall.get(n)!.map((ms) => round(ms))])),
        toolPhaseMs: Object.fromEntries(SIZES.map((n) => [n, toolPhase.get(n)])),
        wallRatio: Object.fromEntries(SIZES.map((n) => [n, round(wallOf(n) / wallOf(1), 3)])),
      },
      notes: [],
    };
  },
};
