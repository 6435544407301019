/**
 * Scenario 2 — the naive loop (`naive-loop.ts`) against ours, on the same scripted conversations
 * with realistic stand-in latencies, interleaved in one run so the ratios share the machine's mood.
 */
import { AnthropicChatModel } from '../../functions/adapters/anthropic';
import { createDocumentClient } from '../../functions/adapters/dynamodb';
import { ScalekitConnectedAccounts } from '../../functions/adapters/scalekit';
import { DEFAULT_TOOL_ALLOWLIST } from '../../functions/config';
import { DEFAULT_SYSTEM_PROMPT } from '../../functions/core/chat';
import { startGateway } from '../../infra/local/gateway';
import { type Bench, marker, script, setModelLatency, setToolLatency, textTurn, threeReads, toolTurn, turn, user } from './harness';
import { type DynamoTally, DynamoMeter, diffCounts, diffTally, sumCounts } from './meters';
import { createNaiveChatHandler } from './naive-loop';
import { BENCH_USER_SOLO, PUBLIC_PROJECT } from './orchestration';
import type { Scenario } from './scenario';
import { median, round } from './stats';

/** Realistic stand-in latencies: per model response and per tool execution (also scenario 8's). */
export const MODEL_MS = 800;
export const TOOL_MS = 250;

interface ConversationRun {
  readonly wallMs: number;
  /** Per turn, in order. */
  readonly turnMs: number[];
  readonly dynamo: DynamoTally | undefined;
  readonly bytesPerTurn: number[] | undefined;
  readonly rpcs: Record<string, number> | undefined;
}

export const naiveVsOurs: Scenario = {
  id: 'naive',
  number: 2,
  title: 'Naive loop vs ours (model 800 ms, tools 250 ms, 3 tool calls per turn)',
  async run(bench: Bench) {
    const timedTurns = bench.quick ? 3 : 4;
    const longTurns = bench.quick ? 10 : 20;
    const turns = timedTurns;
    const repetitions = bench.quick ? 2 : 5;
    const caller = await user(bench, BENCH_USER_SOLO);

    const naiveDb = createDocumentClient({ region: bench.facts.cognito.region, endpoint: bench.facts.dynamodbUrl });
    const naiveMeter = new DynamoMeter(naiveDb, bench.timeline);
    const naiveGateway = await startGateway({
      port: 0,
      issuer: `${bench.facts.cognito.endpoint}/${bench.facts.cognito.userPoolId}`,
      handlers: {
        chat: createNaiveChatHandler({
          db: naiveDb,
          tableName: bench.facts.tableName,
          model: new AnthropicChatModel(
            {
              apiKey: bench.functionEnv.ANTHROPIC_API_KEY ?? 'local-stand-in-key',
              baseURL: bench.facts.modelUrl,
              timeoutMs: 20_000,
            },
            'claude-sonnet-4-6',
            4096,
          ),
          accounts: new ScalekitConnectedAccounts({
            environmentUrl: bench.facts.scalekit.environmentUrl,
            clientId: bench.facts.scalekit.clientId,
            clientSecret: bench.facts.scalekit.clientSecret,
          }),
          connection: 'asana',
          toolAllowlist: DEFAULT_TOOL_ALLOWLIST,
          systemPrompt: DEFAULT_SYSTEM_PROMPT,
          modelCallBudget: 20,
        }),
      },
    });

    const conversation = async (kind: 'ours' | 'naive', rep: number | string, turns = timedTurns): Promise<ConversationRun> => {
      const tag = marker(`${kind}-${rep}`);
      await script(
        bench,
        tag,
        Array.from({ length: turns }, (_, t) => [toolTurn(threeReads(PUBLIC_PROJECT)), textTurn(`Answer ${t + 1}.`)]).flat(),
      );
      const meter = kind === 'naive' ? naiveMeter : bench.dynamo;
      const apiUrl = kind === 'naive' ? naiveGateway.url : bench.facts.apiUrl;
      const before = meter?.snapshot();
      const rpcBefore = bench.rpc.snapshot(bench.facts.scalekit.environmentUrl);
      const turnMs: number[] = [];
      const bytesPerTurn: number[] = [];
      let id: string | undefined;
      for (let t = 0; t < turns; t++) {
        const turnBefore = meter?.snapshot();
        const reply = await turn(
          bench,
          caller,
          id,
          t === 0 ? `${tag} question 1` : `question ${t + 1}`,
          { reply: `Answer ${t + 1}.`, tools: kind === 'ours' ? 3 : undefined },
          apiUrl,
        );
        id = reply.outcome.conversationId;
        turnMs.push(reply.ms);
        const turnAfter = meter?.snapshot();
        if (turnBefore && turnAfter) bytesPerTurn.push(diffTally(turnAfter, turnBefore).bytesWritten);
      }
      const after = meter?.snapshot();
      return {
        wallMs: turnMs.reduce((a, b) => a + b, 0),
        turnMs,
        dynamo: before && after ? diffTally(after, before) : undefined,
        bytesPerTurn: meter ? bytesPerTurn : undefined,
        // Our handlers' RPCs are seen only in process; the naive loop always runs here.
        rpcs:
          kind === 'naive' || bench.inProcess ? diffCounts(bench.rpc.snapshot(bench.facts.scalekit.environmentUrl), rpcBefore) : undefined,
      };
    };

    const ours: ConversationRun[] = [];
    const naive: ConversationRun[] = [];
    let longOurs: ConversationRun | undefined;
    let longNaive: ConversationRun | undefined;
    try {
      // Warm the naive side's clients (Scalekit token, HTTP/2 session) outside the measurements.
      await conversation('naive', -1);
      // Bytes do not depend on latency: one long conversation each at 0 ms shows how writes grow.
      longOurs = await conversation('ours', 'long', longTurns);
      longNaive = await conversation('naive', 'long', longTurns);
      await setModelLatency(bench, MODEL_MS);
      await setToolLatency(bench, TOOL_MS);
      for (let rep = 0; rep < repetitions; rep++) {
        // Alternate which goes first, so neither always runs on a warmer machine.
        if (rep % 2 === 0) {
          ours.push(await conversation('ours', rep));
          naive.push(await conversation('naive', rep));
        } else {
          naive.push(await conversation('naive', rep));
          ours.push(await conversation('ours', rep));
        }
      }
    } finally {
      await setModelLatency(bench, 0);
      await setToolLatency(bench, 0);
      await naiveGateway.close();
      naiveDb.destroy();
    }

    const timeRatios = ours.map((run, i) => naive[i]!.wallMs / run.wallMs);
    const bytes = (runs: ConversationRun[]) => runs.map((run) => run.dynamo?.bytesWritten).filter((value) => value !== undefined);
    const ourBytes = bytes(ours);
    const naiveBytes = bytes(naive);
    const byteRatios = ourBytes.length === naiveBytes.length ? ourBytes.map((value, i) => naiveBytes[i]! / value) : [];
    const lastTurnBytes = (runs: ConversationRun[]) => {
      const values = runs.map((run) => run.bytesPerTurn?.at(-1)).filter((value) => value !== undefined);
      return values.length ? median(values) : null;
    };
    const perTurnMs = (runs: ConversationRun[]) => median(runs.flatMap((run) => run.turnMs));
    const rpcsPerTurn = (runs: ConversationRun[]) => {
      const counts = runs.map((run) => run.rpcs).filter((value) => value !== undefined);
      return counts.length ? round(median(counts.map(sumCounts)) / turns, 1) : 'n/a';
    };
    const longBytes = { ours: longOurs?.bytesPerTurn, naive: longNaive?.bytesPerTurn };
    const cumulative = (values: number[]) => values.map((_, i) => values.slice(0, i + 1).reduce((a, b) => a + b, 0));
    let perTurnCrossover: number | null = null;
    let totalCrossover: number | null = null;
    if (longBytes.ours && longBytes.naive) {
      const ourTotals = cumulative(longBytes.ours);
      const naiveTotals = cumulative(longBytes.naive);
      const firstTurn = longBytes.naive.findIndex((bytes, i) => bytes > longBytes.ours![i]!);
      const firstTotal = naiveTotals.findIndex((bytes, i) => bytes > ourTotals[i]!);
      perTurnCrossover = firstTurn === -1 ? null : firstTurn + 1;
      totalCrossover = firstTotal === -1 ? null : firstTotal + 1;
    }
    const longRatio = longOurs?.dynamo && longNaive?.dynamo ? round(longNaive.dynamo.bytesWritten / longOurs.dynamo.bytesWritten, 2) : null;
    return {
      settings: {
        modelLatencyMs: MODEL_MS,
        toolLatencyMs: TOOL_MS,
        toolCallsPerTurn: 3,
        turnsPerConversation: turns,
        repetitions,
        order: 'alternating',
        longConversationTurns: longTurns,
        longConversationLatencyMs: 0,
      },
      figures: [
        { label: 'ours: wall time per turn (median)', value: round(perTurnMs(ours)), unit: 'ms' },
        { label: 'naive: wall time per turn (median)', value: round(perTurnMs(naive)), unit: 'ms' },
        {
          label: 'Scalekit RPCs per turn, ours / naive',
          value: `${rpcsPerTurn(ours)} / ${rpcsPerTurn(naive)}`,
          unit: '(naive lists tools before each model call, ours once per request)',
        },
        { label: 'end-to-end time, naive / ours', value: round(median(timeRatios), 2), unit: `× (${turns}-turn conversation)` },
        { label: 'ours: DynamoDB bytes written per conversation', value: ourBytes.length ? median(ourBytes) : null, unit: 'B' },
        { label: 'naive: DynamoDB bytes written per conversation', value: naiveBytes.length ? median(naiveBytes) : null, unit: 'B' },
        {
          label: 'DynamoDB bytes written, naive / ours',
          value: byteRatios.length ? round(median(byteRatios), 2) : null,
          unit: `× (${turns} turns)`,
        },
        {
          label: `bytes written by turn ${turns}, ours / naive`,
          value: `${lastTurnBytes(ours) ?? 'n/a'} / ${lastTurnBytes(naive) ?? 'n/a'}`,
          unit: 'B',
        },
        {
          label: `${longTurns}-turn conversation: bytes written, naive / ours`,
          value: longRatio,
          unit: `× (turn ${longTurns} alone: ${longBytes.ours?.at(-1) ?? 'n/a'} B ours, ${longBytes.naive?.at(-1) ?? 'n/a'} B naive)`,
        },
        {
          label: 'naive writes more than ours from turn / in total from turn',
          value: longBytes.ours && longBytes.naive ? `${perTurnCrossover ?? `>${longTurns}`} / ${totalCrossover ?? `>${longTurns}`}` : null,
          unit: '(ours is flat per turn; naive rewrites everything)',
        },
      ],
      details: {
        longConversation: {
          turns: longTurns,
          oursBytesPerTurn: longBytes.ours,
          naiveBytesPerTurn: longBytes.naive,
          oursByOperation: longOurs?.dynamo?.bytesWrittenByOperation,
        },
        timeRatios: timeRatios.map((ratio) => round(ratio, 3)),
        byteRatios: byteRatios.map((ratio) => round(ratio, 3)),
        ours: ours.map((run) => ({
          wallMs: round(run.wallMs),
          turnMs: run.turnMs.map((ms) => round(ms)),
          bytesPerTurn: run.bytesPerTurn,
          dynamoRequests: run.dynamo?.requests,
          scalekitRpcs: run.rpcs,
        })),
        naive: naive.map((run) => ({
          wallMs: round(run.wallMs),
          turnMs: run.turnMs.map((ms) => round(ms)),
          bytesPerTurn: run.bytesPerTurn,
          dynamoRequests: run.dynamo?.requests,
          scalekitRpcs: run.rpcs,
        })),
      },
      notes: bench.inProcess
        ? []
        : ["Our DynamoDB bytes need the handlers in this process (not with --reuse); the naive loop's are still counted."],
    };
  },
};
