/**
 * Scenario 6 — concurrency: 10 and 50 users chatting at once through the local gateway (model
 * and tools at 0 ms, so this is the capacity of the one process hosting gateway, handlers and
 * stand-ins, plus DynamoDB Local). Every answer is then checked for other users' data.
 */
import { z } from 'zod';
import {
  type Bench,
  type BenchUser,
  call,
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
import { javaChildCpuSeconds } from './meters';
import type { Scenario } from './scenario';
import { median, percentile, round } from './stats';

const LOADS = [10, 50] as const;

/** The 50 people `run.ts` adds to the world for this scenario. */
export const CONCURRENCY_USERS = Array.from({ length: 50 }, (_, i) => `bench${String(i + 1).padStart(2, '0')}`);

const conversationView = z.looseObject({
  messages: z.array(
    z.looseObject({ role: z.string(), content: z.array(z.looseObject({ type: z.string(), content: z.unknown().optional() })) }),
  ),
});
const conversationList = z.looseObject({ conversations: z.array(z.looseObject({ conversationId: z.string() })) });

/** Connects users a few at a time (the consent flow is several requests each). */
async function connectAll(bench: Bench, usernames: readonly string[]): Promise<BenchUser[]> {
  const users: BenchUser[] = [];
  for (let i = 0; i < usernames.length; i += 5) {
    users.push(...(await Promise.all(usernames.slice(i, i + 5).map((username) => user(bench, username)))));
  }
  return users;
}

interface Session {
  readonly caller: BenchUser;
  readonly tag: string;
  conversationId?: string;
}

export const concurrency: Scenario = {
  id: 'concurrency',
  number: 6,
  title: 'Concurrency: 10 and 50 users at once through the gateway',
  async run(bench: Bench) {
    const repetitions = bench.quick ? 1 : 3;
    const turnsPerUser = bench.quick ? 2 : 3;
    const notes: string[] = [];
    const available = CONCURRENCY_USERS.filter((username) => bench.people.has(username));
    const pool = available.length > 0 ? available : [...bench.people.keys()];
    if (pool.length < Math.max(...LOADS)) {
      notes.push(`only ${pool.length} distinct users in this stack: sessions are spread over them round-robin`);
    }
    bench.log(`  connecting ${Math.min(pool.length, Math.max(...LOADS))} users through the consent flow`);
    const users = await connectAll(bench, pool.slice(0, Math.max(...LOADS)));
    await setModelLatency(bench, 0);
    await setToolLatency(bench, 0);

    const byLoad: Record<
      number,
      { throughput: number[]; latencies: number[]; cpu: number[]; javaCpu: number[]; errors: number; crossUser: number; turns: number }
    > = {};
    for (const load of LOADS) {
      const stats = {
        throughput: [] as number[],
        latencies: [] as number[],
        cpu: [] as number[],
        javaCpu: [] as number[],
        errors: 0,
        crossUser: 0,
        turns: 0,
      };
      byLoad[load] = stats;
      for (let rep = 0; rep < repetitions; rep++) {
        const sessions: Session[] = Array.from({ length: load }, (_, i) => ({
          caller: users[i % users.length]!,
          tag: marker(`c${load}-${rep}-${i}`),
        }));
        for (const session of sessions) {
          await script(
            bench,
            session.tag,
            Array.from({ length: turnsPerUser }, (_, k) => [
              toolTurn([{ name: 'asana_me_get', input: {} }]),
              textTurn(`Reply ${k + 1} for ${session.caller.username}.`),
            ]).flat(),
          );
        }
        const since = await executionCursor(bench);
        const started = performance.now();
        const cpuBefore = process.cpuUsage();
        const javaBefore = javaChildCpuSeconds();
        let completed = 0;
        await Promise.all(
          sessions.map(async (session) => {
            for (let k = 0; k < turnsPerUser; k++) {
              try {
                const reply = await turn(bench, session.caller, session.conversationId, k === 0 ? `${session.tag} who am I?` : 'again?', {
                  reply: `Reply ${k + 1} for ${session.caller.username}.`,
                  tools: 1,
                });
                session.conversationId = reply.outcome.conversationId;
                stats.latencies.push(reply.ms);
                completed++;
              } catch (error) {
                stats.errors++;
                bench.log(`  error: ${(error as Error).message.slice(0, 200)}`);
                return;
              }
            }
          }),
        );
        const elapsed = performance.now() - started;
        const cpu = process.cpuUsage(cpuBefore);
        // CPU time of this one process (gateway, handlers, stand-ins, clients) per wall time: 1.0 = one core busy.
        stats.cpu.push((cpu.user + cpu.system) / 1000 / elapsed);
        const javaAfter = javaChildCpuSeconds();
        if (javaBefore !== undefined && javaAfter !== undefined) stats.javaCpu.push(((javaAfter - javaBefore) * 1000) / elapsed);
        stats.throughput.push(completed / (elapsed / 1000));
        stats.turns += completed;
        stats.crossUser += await crossUserFindings(bench, sessions, since, turnsPerUser);
      }
    }

    return {
      settings: { loads: LOADS, repetitions, turnsPerUser, toolCallsPerTurn: 1, modelLatencyMs: 0, toolLatencyMs: 0 },
      figures: LOADS.flatMap((load) => {
        const s = byLoad[load]!;
        return [
          {
            label: `${load} users: throughput (median of runs)`,
            value: round(median(s.throughput), 1),
            unit: `turns/s (CPU busy: this process ${round(median(s.cpu), 2)} cores, DynamoDB Local ${s.javaCpu.length ? round(median(s.javaCpu), 2) : 'n/a'})`,
          },
          {
            label: `${load} users: turn latency p50 / p95`,
            value: `${round(median(s.latencies))} / ${round(percentile(s.latencies, 95))}`,
            unit: 'ms',
          },
          { label: `${load} users: errors / cross-user findings`, value: `${s.errors} / ${s.crossUser}`, unit: `(of ${s.turns} turns)` },
        ];
      }),
      details: Object.fromEntries(
        LOADS.map((load) => {
          const s = byLoad[load]!;
          return [
            load,
            {
              cpuCores: s.cpu.map((c) => round(c, 2)),
              dynamodbLocalCpuCores: s.javaCpu.map((c) => round(c, 2)),
              throughput: s.throughput.map((t) => round(t, 2)),
              p50: round(median(s.latencies)),
              p95: round(percentile(s.latencies, 95)),
              max: round(Math.max(...s.latencies)),
              errors: s.errors,
              crossUser: s.crossUser,
              turns: s.turns,
            },
          ];
        }),
      ),
      notes,
    };
  },
};

/**
 * Counts anything of another user in a session's data: a tool result naming someone else, a
 * conversation list showing another user's conversation, or an execution under a wrong identity.
 */
async function crossUserFindings(bench: Bench, sessions: readonly Session[], since: number, turnsPerUser: number): Promise<number> {
  let findings = 0;
  const emails = new Set(sessions.map((session) => session.caller.email));
  for (const session of sessions) {
    if (!session.conversationId) continue;
    const view = await call(bench, session.caller, 'GET', `/conversations/${session.conversationId}`);
    const results = conversationView
      .parse(view.body)
      .messages.flatMap((message) => message.content)
      .filter((block) => block.type === 'tool_result')
      .map((block) => JSON.stringify(block.content ?? ''));
    for (const result of results) {
      if (!result.includes(session.caller.email)) findings++;
      for (const email of emails) if (email !== session.caller.email && result.includes(email)) findings++;
    }
    const list = await call(bench, session.caller, 'GET', '/conversations?limit=100');
    const listed = new Set(conversationList.parse(list.body).conversations.map((c) => c.conversationId));
    if (!listed.has(session.conversationId)) findings++;
    for (const other of sessions) {
      if (other.caller.sub !== session.caller.sub && other.conversationId && listed.has(other.conversationId)) findings++;
    }
  }
  // Every tool ran under the identity of a user of this batch, as many times as that user asked.
  const expected = new Map<string, number>();
  for (const session of sessions)
    if (session.conversationId) expected.set(session.caller.sub, (expected.get(session.caller.sub) ?? 0) + turnsPerUser);
  const seen = new Map<string, number>();
  for (const execution of await executions(bench, since)) seen.set(execution.identifier, (seen.get(execution.identifier) ?? 0) + 1);
  for (const [identifier, count] of seen) if (expected.get(identifier) !== count) findings++;
  return findings;
}
