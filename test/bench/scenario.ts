import type { Bench } from './harness';
import { type DynamoTally, diffCounts, diffTally, splitTime, type TimeSplit } from './meters';
import type { Figure } from './stats';

/** What a scenario reports: the table's figures plus the raw numbers behind them. */
export interface ScenarioResult {
  readonly figures: Figure[];
  /** Settings the figures were measured with (latencies, repetitions, sizes). */
  readonly settings: Record<string, unknown>;
  /** Raw samples and breakdowns, for whoever wants more than the table. */
  readonly details: Record<string, unknown>;
  /** Caveats of this run (counts unavailable, fewer repetitions…). */
  readonly notes: string[];
}

export interface Scenario {
  /** Name for `--only` (the number works too). */
  readonly id: string;
  readonly number: number;
  readonly title: string;
  run(bench: Bench): Promise<ScenarioResult>;
}

/** What one measured window (a turn, a run) cost: time split by upstream, DynamoDB and Scalekit traffic. */
export interface Cost {
  readonly time: TimeSplit;
  /** `undefined` when the handlers run in another process. */
  readonly dynamo: DynamoTally | undefined;
  readonly rpcs: Record<string, number> | undefined;
}

/** Starts measuring; the returned function ends the window (optionally at the given reply's times). */
export function measure(bench: Bench, scalekitUrl = bench.facts.scalekit.environmentUrl) {
  const dynamoBefore = bench.dynamo?.snapshot();
  const rpcBefore = bench.rpc.snapshot(scalekitUrl);
  return (window: { from: number; to: number }): Cost => {
    const dynamoAfter = bench.dynamo?.snapshot();
    const time = splitTime(bench.timeline, window.from, window.to);
    return {
      // Out of process, the handlers' waits are invisible here: only the wall time is known.
      time: bench.inProcess ? time : { ...time, dynamodbMs: Number.NaN, scalekitMs: Number.NaN, modelMs: Number.NaN, otherMs: Number.NaN },
      dynamo: dynamoBefore && dynamoAfter ? diffTally(dynamoAfter, dynamoBefore) : undefined,
      rpcs: bench.inProcess ? diffCounts(bench.rpc.snapshot(scalekitUrl), rpcBefore) : undefined,
    };
  };
}
