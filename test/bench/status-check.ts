/**
 * Scenario 7 — the connection-status use case at scale: a Scalekit emulator of its own seeded
 * with 1,000 and 10,000 connected accounts in mixed statuses, `checkConnectionStatuses` with the
 * production adapters (Scalekit SDK, DynamoDB registry) run cold (every registry entry written)
 * and warm (nothing changed).
 */
import { randomBytes } from 'node:crypto';
import { DynamoConnectionStore } from '../../functions/adapters/connection-store';
import { createDocumentClient } from '../../functions/adapters/dynamodb';
import { ScalekitConnectedAccounts } from '../../functions/adapters/scalekit';
import { checkConnectionStatuses, type StatusCheckSummary } from '../../functions/core/connections';
import { type AccountStatus, startScalekit } from '../../infra/local/scalekit/server';
import type { Bench } from './harness';
import { DynamoMeter, type DynamoTally, diffCounts, diffTally, javaChildCpuSeconds, splitTime, sumCounts, type TimeSplit } from './meters';
import type { Scenario } from './scenario';
import { median, round } from './stats';

/** The mix of statuses seeded (out of 20). */
const STATUS_MIX: readonly [AccountStatus, number][] = [
  ['ACTIVE', 14],
  ['EXPIRED', 2],
  ['PENDING_AUTH', 2],
  ['PENDING_VERIFICATION', 1],
  ['DISCONNECTED', 1],
];
const statusAt = (i: number): AccountStatus => {
  let slot = i % 20;
  for (const [status, share] of STATUS_MIX) {
    if (slot < share) return status;
    slot -= share;
  }
  return 'ACTIVE';
};

interface Pass {
  readonly ms: number;
  readonly time: TimeSplit;
  /** CPU cores DynamoDB Local kept busy during the pass. */
  readonly javaCores: number | undefined;
  readonly summary: StatusCheckSummary;
  readonly dynamo: DynamoTally;
  readonly rpcs: number;
}

export const statusCheck: Scenario = {
  id: 'statuscheck',
  number: 7,
  title: 'Connection-status check at scale (1,000 and 10,000 accounts, cold and warm)',
  async run(bench: Bench) {
    const plan: [number, number][] = bench.quick
      ? [
          [1000, 1],
          [10_000, 1],
        ]
      : [
          [1000, 5],
          [10_000, 3],
        ];
    const db = createDocumentClient({ region: bench.facts.cognito.region, endpoint: bench.facts.dynamodbUrl });
    const meter = new DynamoMeter(db, bench.timeline);
    const store = new DynamoConnectionStore(db, bench.facts.tableName);
    const results: Record<number, { cold: Pass[]; warm: Pass[] }> = {};
    try {
      for (const [size, repetitions] of plan) {
        results[size] = { cold: [], warm: [] };
        for (let rep = 0; rep < repetitions; rep++) {
          const clientSecret = `sks_bench_${randomBytes(12).toString('hex')}`;
          // An emulator of this scenario's own, without a state file (the README's advice for benchmarks).
          const emulator = await startScalekit({
            asanaUrl: bench.facts.asanaUrl,
            asanaClient: { clientId: 'bench-unused', clientSecret: 'bench-unused' },
            clientId: 'skc_bench',
            clientSecret,
          });
          try {
            // Fresh identifiers each time, each with the entry its consent left (PENDING_VERIFICATION):
            // the check records only users who connected through this deployment; all but those still
            // pending verification move (cold).
            const run = randomBytes(4).toString('hex');
            emulator.seedAccounts(Array.from({ length: size }, (_, i) => ({ identifier: `bench-${run}-${i}`, status: statusAt(i) })));
            const consentedAt = new Date().toISOString();
            for (let i = 0; i < size; i += 50) {
              await Promise.all(
                Array.from({ length: Math.min(50, size - i) }, (_, j) =>
                  store.putEntry(`bench-${run}-${i + j}`, {
                    connection: 'asana',
                    status: 'PENDING_VERIFICATION',
                    checkedAt: consentedAt,
                    changedAt: consentedAt,
                  }),
                ),
              );
            }
            const accounts = new ScalekitConnectedAccounts({ environmentUrl: emulator.url, clientId: 'skc_bench', clientSecret });
            const deps = {
              accounts,
              store,
              clock: { now: () => Date.now() },
              settings: { connections: ['asana'], stateTtlSeconds: 600, defaultVerifyUrl: 'http://127.0.0.1:9/callback' },
            };
            const pass = async (): Promise<Pass> => {
              const dynamoBefore = meter.snapshot();
              const rpcBefore = bench.rpc.snapshot(emulator.url);
              const javaBefore = javaChildCpuSeconds();
              const started = performance.now();
              const summary = await checkConnectionStatuses(deps);
              const ended = performance.now();
              const javaAfter = javaChildCpuSeconds();
              return {
                javaCores:
                  javaBefore !== undefined && javaAfter !== undefined ? ((javaAfter - javaBefore) * 1000) / (ended - started) : undefined,
                ms: ended - started,
                time: splitTime(bench.timeline, started, ended),
                summary,
                dynamo: diffTally(meter.snapshot(), dynamoBefore),
                rpcs: sumCounts(diffCounts(bench.rpc.snapshot(emulator.url), rpcBefore)),
              };
            };
            const cold = await pass();
            const warm = await pass();
            const moved = Array.from({ length: size }, (_, i) => statusAt(i)).filter((status) => status !== 'PENDING_VERIFICATION').length;
            if (cold.summary.checked !== size || cold.summary.changed !== moved || warm.summary.changed !== 0) {
              throw new Error(`unexpected summaries: cold ${JSON.stringify(cold.summary)}, warm ${JSON.stringify(warm.summary)}`);
            }
            results[size]!.cold.push(cold);
            results[size]!.warm.push(warm);
            bench.log(`  ${size} accounts: cold ${round(cold.ms)} ms, warm ${round(warm.ms)} ms`);
          } finally {
            await emulator.close();
          }
        }
      }
    } finally {
      db.destroy();
    }

    const summarise = (passes: Pass[], size: number) => {
      const ms = median(passes.map((p) => p.ms));
      return {
        ms: round(ms),
        accountsPerSecond: round(size / (ms / 1000), 0),
        writeRequests: median(passes.map((p) => p.dynamo.writes)),
        bytesWritten: median(passes.map((p) => p.dynamo.bytesWritten)),
        conditionFailures: median(passes.map((p) => p.dynamo.conditionFailures)),
        scalekitRpcs: median(passes.map((p) => p.rpcs)),
        changed: median(passes.map((p) => p.summary.changed)),
        dynamodbBusyMs: round(median(passes.map((p) => p.time.dynamodbMs))),
        scalekitBusyMs: round(median(passes.map((p) => p.time.scalekitMs))),
        otherMs: round(median(passes.map((p) => p.time.otherMs))),
        dynamodbLocalCores: passes.every((p) => p.javaCores !== undefined) ? round(median(passes.map((p) => p.javaCores!)), 2) : null,
      };
    };
    const sizes = plan.map(([size]) => size);
    const table = Object.fromEntries(
      sizes.map((size) => [size, { cold: summarise(results[size]!.cold, size), warm: summarise(results[size]!.warm, size) }]),
    );
    const small = table[sizes[0]!]!;
    const large = table[sizes.at(-1)!]!;
    return {
      settings: {
        sizes: plan.map(([size, repetitions]) => ({ size, repetitions })),
        statusMix: Object.fromEntries(STATUS_MIX.map(([status, share]) => [status, `${share * 5}%`])),
        concurrency: 16,
        pageSize: 100,
      },
      figures: [
        ...sizes.flatMap((size) => {
          const row = table[size]!;
          return [
            {
              label: `${size} accounts, cold: time / rate`,
              value: `${row.cold.ms} / ${row.cold.accountsPerSecond}`,
              unit: `ms / accounts/s (${row.cold.writeRequests} UpdateItem, ${row.cold.bytesWritten} B; ${row.cold.scalekitRpcs} Scalekit RPCs; DynamoDB busy ${row.cold.dynamodbBusyMs} ms, Scalekit ${row.cold.scalekitBusyMs} ms; DynamoDB Local CPU ${row.cold.dynamodbLocalCores ?? 'n/a'} cores)`,
            },
            {
              label: `${size} accounts, warm: time / rate`,
              value: `${row.warm.ms} / ${row.warm.accountsPerSecond}`,
              unit: `ms / accounts/s (${row.warm.writeRequests} conditional UpdateItem, ${row.warm.conditionFailures} refused; DynamoDB busy ${row.warm.dynamodbBusyMs} ms; DynamoDB Local CPU ${row.warm.dynamodbLocalCores ?? 'n/a'} cores)`,
            },
          ];
        }),
        {
          label: `${sizes.at(-1)} vs ${sizes[0]} accounts: time ratio cold / warm`,
          value: `${round(large.cold.ms / small.cold.ms, 1)} / ${round(large.warm.ms / small.warm.ms, 1)}`,
          unit: `× (for ${round(sizes.at(-1)! / sizes[0]!, 0)}× the accounts)`,
        },
      ],
      details: { bySize: table },
      notes: [
        "Runs the use case with the production adapters against an emulator of the scenario's own (seedAccounts in process) and the stack's DynamoDB Local.",
      ],
    };
  },
};
