/**
 * Scenario 8 — streamed runs (`Accept: text/event-stream`): how soon a streaming client sees the
 * run (first bytes, first event, first text, first tool call), and what streaming costs against
 * JSON on the same conversation, first with the stand-ins at 0 ms (our own overhead), then at
 * scenario 2's realistic latencies, where a turn is also set against its critical path.
 */
import {
  type Bench,
  type BenchUser,
  marker,
  type StreamTimes,
  script,
  setModelLatency,
  setToolLatency,
  streamedTurn,
  textTurn,
  threeReads,
  toolTurn,
  turn,
  user,
} from './harness';
import { MODEL_MS, TOOL_MS } from './naive-vs-ours';
import { BENCH_USER_SOLO, PUBLIC_PROJECT, perTurn } from './orchestration';
import { type Cost, measure, type Scenario } from './scenario';
import { type Figure, formatValue, median, percentile, round } from './stats';

/** The target we report against: the first event within this long of the request. */
const FIRST_EVENT_TARGET_MS = 100;

type Mode = 'json' | 'sse';

/** One measured turn. */
interface TurnSample {
  readonly first: boolean;
  readonly cost: Cost;
  /** Streamed turns only. */
  readonly times: StreamTimes | undefined;
  /** The turn's longest tool call, as the run timed it (its 3 calls run at once). */
  readonly slowestToolMs: number;
}

/** A conversation of `turns` turns, each 3 parallel reads and then an answer, run as JSON or streamed. */
async function conversation(bench: Bench, caller: BenchUser, mode: Mode, label: string, turns: number): Promise<TurnSample[]> {
  const tag = marker(`streaming-${label}-${mode}`);
  await script(
    bench,
    tag,
    Array.from({ length: turns }, (_, t) => [toolTurn(threeReads(PUBLIC_PROJECT)), textTurn(`Answer ${t + 1}.`)]).flat(),
  );
  const samples: TurnSample[] = [];
  let id: string | undefined;
  for (let t = 0; t < turns; t++) {
    const message = t === 0 ? `${tag} question 1` : `question ${t + 1}`;
    const expect = { reply: `Answer ${t + 1}.`, tools: 3 };
    const done = measure(bench);
    const reply =
      mode === 'sse'
        ? await streamedTurn(bench, caller, id, message, expect)
        : { ...(await turn(bench, caller, id, message, expect)), times: undefined };
    id = reply.outcome.conversationId;
    samples.push({
      first: t === 0,
      cost: done(reply),
      times: reply.times,
      slowestToolMs: Math.max(...reply.outcome.toolCalls.map((toolCall) => toolCall.durationMs ?? Number.NaN)),
    });
  }
  return samples;
}

/** `repetitions` pairs of the same conversation as JSON and streamed, alternating which goes first. */
async function interleaved(bench: Bench, caller: BenchUser, label: string, turns: number, repetitions: number) {
  const runs: Record<Mode, TurnSample[][]> = { json: [], sse: [] };
  for (let rep = 0; rep < repetitions; rep++) {
    const order: Mode[] = rep % 2 === 0 ? ['json', 'sse'] : ['sse', 'json'];
    for (const mode of order) runs[mode].push(await conversation(bench, caller, mode, `${label}-${rep}`, turns));
  }
  return runs;
}

const wallOf = (samples: readonly TurnSample[]) => samples.map((sample) => sample.cost.time.wallMs);
const sumOf = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Each streamed turn's time of one kind (turns that sent no such event left out). */
const timesOf = (samples: readonly TurnSample[], pick: (times: StreamTimes) => number | undefined) =>
  samples.map((sample) => (sample.times ? pick(sample.times) : undefined)).filter((ms) => ms !== undefined);

/** Milliseconds inside a text figure, as the table shows a number (0.1 ms at most). */
const shown = (ms: number) => formatValue(round(ms));

/** A client-side time of the streamed turns: the median as the value, the p95 beside it. */
function streamFigure(label: string, values: readonly number[], more = ''): Figure {
  return { label, value: round(median(values)), unit: `ms (p95 ${shown(percentile(values, 95))}${more})` };
}

/** How many first events came within the target. */
const withinTarget = (firstEventMs: readonly number[]) =>
  `; ≤ ${FIRST_EVENT_TARGET_MS} ms in ${firstEventMs.filter((ms) => ms <= FIRST_EVENT_TARGET_MS).length} of ${firstEventMs.length}`;

/** The streamed-client figures of `samples`, each label prefixed with `at`. */
function firstEventFigures(at: string, samples: readonly TurnSample[]): Figure[] {
  const firstEvent = timesOf(samples, (times) => times.firstEventMs);
  return [
    streamFigure(
      `${at}SSE: time to first byte (TTFB)`,
      timesOf(samples, (times) => times.firstByteMs),
    ),
    streamFigure(`${at}SSE: time to first event (run)`, firstEvent, withinTarget(firstEvent)),
    streamFigure(
      `${at}SSE: time to first text`,
      timesOf(samples, (times) => times.firstTextMs),
    ),
    streamFigure(
      `${at}SSE: time to first tool_call`,
      timesOf(samples, (times) => times.firstToolCallMs),
    ),
  ];
}

/** Per pair, the streamed conversation's wall time over the JSON one's (same run, same script). */
const conversationRatios = (runs: Record<Mode, TurnSample[][]>) =>
  runs.sse.map((samples, i) => sumOf(wallOf(samples)) / sumOf(wallOf(runs.json[i]!)));

/**
 * A turn's critical path: its model calls (one after the other) plus its slowest tool (the batch
 * runs at once), as measured; everything above it is the orchestration's. Out of process the
 * model calls are not seen (NaN).
 */
const criticalPathMs = (sample: TurnSample) => sample.cost.time.modelMs + sample.slowestToolMs;

/** A turn's details: the raw numbers behind the figures. */
const sampleDetails = (sample: TurnSample) => ({
  first: sample.first,
  wallMs: round(sample.cost.time.wallMs),
  modelMs: round(sample.cost.time.modelMs),
  slowestToolMs: sample.slowestToolMs,
  ...(sample.times && Object.fromEntries(Object.entries(sample.times).map(([key, ms]) => [key, ms === undefined ? null : round(ms)]))),
});

export const streaming: Scenario = {
  id: 'streaming',
  number: 8,
  title: `Streamed runs: first bytes and events, JSON vs SSE (0 ms, then model ${MODEL_MS} ms, tools ${TOOL_MS} ms)`,
  async run(bench: Bench) {
    const fastTurns = bench.quick ? 4 : 8;
    const slowTurns = bench.quick ? 3 : 4;
    const repetitions = bench.quick ? 2 : 5;
    const caller = await user(bench, BENCH_USER_SOLO);
    let fast: Record<Mode, TurnSample[][]>;
    let slow: Record<Mode, TurnSample[][]>;
    try {
      await setModelLatency(bench, 0);
      await setToolLatency(bench, 0);
      fast = await interleaved(bench, caller, 'fast', fastTurns, repetitions);
      await setModelLatency(bench, MODEL_MS);
      await setToolLatency(bench, TOOL_MS);
      slow = await interleaved(bench, caller, 'slow', slowTurns, repetitions);
    } finally {
      await setModelLatency(bench, 0);
      await setToolLatency(bench, 0);
    }

    // At 0 ms, as in scenario 1: the follow-up turns are the samples, the first turn apart.
    const fastLater = { json: fast.json.flat().filter((s) => !s.first), sse: fast.sse.flat().filter((s) => !s.first) };
    const fastFirst = fast.sse.flat().filter((sample) => sample.first);
    // At realistic latencies, as in scenario 2: every turn of the conversation.
    const slowAll = { json: slow.json.flat(), sse: slow.sse.flat() };
    const fastWall = { json: median(wallOf(fastLater.json)), sse: median(wallOf(fastLater.sse)) };
    const slowWall = { json: wallOf(slowAll.json), sse: wallOf(slowAll.sse) };
    const critical = { json: slowAll.json.map(criticalPathMs), sse: slowAll.sse.map(criticalPathMs) };
    const overCritical = (samples: readonly TurnSample[]) => round(median(samples.map((s) => s.cost.time.wallMs / criticalPathMs(s))), 2);
    const at = `at ${MODEL_MS}/${TOOL_MS} ms, `;
    return {
      settings: {
        fast: { modelLatencyMs: 0, toolLatencyMs: 0, turnsPerConversation: fastTurns, samples: 'follow-up turns' },
        slow: { modelLatencyMs: MODEL_MS, toolLatencyMs: TOOL_MS, turnsPerConversation: slowTurns, samples: 'every turn' },
        toolCallsPerTurn: 3,
        repetitions,
        order: 'JSON and SSE conversations alternating which goes first',
        clock: 'client wall clock from the start of fetch',
        firstEventTargetMs: FIRST_EVENT_TARGET_MS,
        user: BENCH_USER_SOLO,
      },
      figures: [
        ...firstEventFigures('at 0 ms, ', fastLater.sse),
        {
          label: 'at 0 ms, first turn (new conversation): SSE time to first event',
          value: round(median(timesOf(fastFirst, (times) => times.firstEventMs))),
          unit: 'ms',
        },
        {
          label: 'at 0 ms: wall time per turn, JSON / SSE',
          value: `${shown(fastWall.json)} / ${shown(fastWall.sse)}`,
          unit: `ms (SSE / JSON ${round(fastWall.sse / fastWall.json, 2)}×)`,
        },
        streamFigure(`${at}JSON: time to the answer (wall time per turn)`, slowWall.json),
        streamFigure(`${at}SSE: time to the outcome (wall time per turn)`, slowWall.sse),
        {
          label: `${at}end-to-end time, SSE / JSON`,
          value: round(median(conversationRatios(slow)), 2),
          unit: `× (${slowTurns}-turn conversation)`,
        },
        ...firstEventFigures(at, slowAll.sse),
        {
          label: `${at}critical path per turn, JSON / SSE`,
          value: `${shown(median(critical.json))} / ${shown(median(critical.sse))}`,
          unit: `ms (model calls + slowest tool, measured; nominal 2 × ${MODEL_MS} + ${TOOL_MS} = ${2 * MODEL_MS + TOOL_MS})`,
        },
        {
          label: `${at}end-to-end / critical path, JSON / SSE`,
          value: `${overCritical(slowAll.json)} / ${overCritical(slowAll.sse)}`,
          unit: '× (per turn)',
        },
      ],
      details: {
        fast: {
          json: perTurn(fastLater.json.map((s) => s.cost)),
          sse: perTurn(fastLater.sse.map((s) => s.cost)),
          samples: { json: fast.json.map((run) => run.map(sampleDetails)), sse: fast.sse.map((run) => run.map(sampleDetails)) },
        },
        slow: {
          json: perTurn(slowAll.json.map((s) => s.cost)),
          sse: perTurn(slowAll.sse.map((s) => s.cost)),
          conversationRatiosSseOverJson: conversationRatios(slow).map((ratio) => round(ratio, 3)),
          samples: { json: slow.json.map((run) => run.map(sampleDetails)), sse: slow.sse.map((run) => run.map(sampleDetails)) },
        },
      },
      notes: bench.inProcess
        ? []
        : ['The model calls are timed only with the handlers in this process: the critical path is n/a with --reuse.'],
    };
  },
};
