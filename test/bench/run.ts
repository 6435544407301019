/**
 * `npm run bench` — performance is measured here, never by timed assertions in tests.
 *
 * Starts the local stack in this process (memory only, ephemeral ports; `.onbehalf/` untouched),
 * runs each scenario several times, prints one table of medians and writes the figures to
 * `test/bench/results.json`. Ratios are always measured within the same run.
 *
 *   npm run bench                      every scenario, full repetitions (5–9 min on 2 cores)
 *   npm run bench -- --quick           fewer repetitions (figures printed, results.json kept)
 *   npm run bench -- --only naive,3    some scenarios (by name or number)
 *   npm run bench -- --reuse           against a running `npm start` (reads .onbehalf/stack.json, or
 *                                      --stack-file FILE); DynamoDB and Scalekit counts need the
 *                                      handlers in this process, so they are reported as n/a
 *   npm run bench -- --out FILE        also write a partial or quick run's figures to FILE
 *   npm run bench -- --markdown        print results.json as the Markdown table of the README's Benchmarks section
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { type LocalStack, type StackFacts, startStack } from '../../infra/local/stack';
import { loadWorld, type World } from '../../infra/local/world';
import { coldStart } from './cold-start';
import { CONCURRENCY_USERS, concurrency } from './concurrency';
import { growth } from './growth';
import { type Bench, marker, script, setModelLatency, setToolLatency, textTurn, toolTurn, turn, user } from './harness';
import { DynamoMeter, RpcMeter, Timeline, timeModelCalls } from './meters';
import { naiveVsOurs } from './naive-vs-ours';
import { BENCH_USER_SOLO, orchestration } from './orchestration';
import { parallelTools } from './parallel-tools';
import type { Scenario, ScenarioResult } from './scenario';
import { statusCheck } from './status-check';
import { streaming } from './streaming';
import { figureRows, markdownTable, round, textTable } from './stats';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = join(HERE, '..', '..');
const RESULTS_FILE = join(HERE, 'results.json');
const SCENARIOS: readonly Scenario[] = [orchestration, naiveVsOurs, parallelTools, growth, coldStart, concurrency, statusCheck, streaming];

interface Options {
  quick: boolean;
  only: Scenario[] | undefined;
  reuse: boolean;
  stackFile: string;
  out: string | undefined;
  markdown: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    quick: false,
    only: undefined,
    reuse: false,
    stackFile: join(ROOT, '.onbehalf', 'stack.json'),
    out: undefined,
    markdown: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') options.quick = true;
    else if (arg === '--reuse') options.reuse = true;
    else if (arg === '--markdown') options.markdown = true;
    else if (arg === '--out') options.out = argv[++i];
    else if (arg === '--stack-file') {
      options.reuse = true;
      options.stackFile = argv[++i] ?? options.stackFile;
    } else if (arg === '--only') {
      const wanted = (argv[++i] ?? '')
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean);
      options.only = wanted.map((name) => {
        const found = SCENARIOS.find((scenario) => scenario.id === name || String(scenario.number) === name);
        if (!found) throw new Error(`unknown scenario "${name}"; one of ${SCENARIOS.map((s) => `${s.number}/${s.id}`).join(', ')}`);
        return found;
      });
    } else if (arg === '--help' || arg === '-h') {
      const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
      console.log(
        source
          .slice(source.indexOf('/**') + 3, source.indexOf('*/'))
          .replace(/^ \* ?/gm, '')
          .trim(),
      );
      process.exit(0);
    } else throw new Error(`unknown option ${arg} (see --help)`);
  }
  return options;
}

/** The machine the figures were measured on. */
function machine() {
  const run = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { encoding: 'utf8' });
    // `java -version` answers on stderr.
    return result.status === 0 ? `${result.stdout}${result.stderr}`.trim() : null;
  };
  let cpuModel: string | null = null;
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? null;
  } catch {
    cpuModel = cpus()[0]?.model ?? null;
  }
  return {
    nproc: Number(run('nproc', [])) || cpus().length,
    memory: run('free', ['-h'])?.split('\n')[1]?.trim().split(/\s+/)[1] ?? null,
    freeH: run('free', ['-h']),
    cpuModel,
    node: process.version,
    kernel: release(),
    java: run('java', ['-version'])?.split('\n')[0] ?? null,
  };
}

/** The world of the bench: the configured one plus 50 people for the concurrency scenario. */
function benchWorld(): World {
  const world = loadWorld();
  const people = CONCURRENCY_USERS.map((username, i) => ({
    username,
    password: `Bench-pass-${String(i + 1).padStart(2, '0')}`,
    email: `${username}@bench.test`,
    name: `Bench User ${i + 1}`,
    asanaGid: String(880001 + i),
  }));
  return { ...world, people: [...world.people, ...people] };
}

const stackJson = z.object({
  apiUrl: z.string(),
  cognito: z.object({
    endpoint: z.string(),
    userPoolId: z.string(),
    clientId: z.string(),
    region: z.string(),
    domain: z.string(),
    webClientId: z.string(),
  }),
  scalekit: z.object({ environmentUrl: z.string(), clientId: z.string(), clientSecret: z.string() }),
  asanaUrl: z.string(),
  modelUrl: z.string(),
  dynamodbUrl: z.string(),
  tableName: z.string(),
  consoleUrl: z.string(),
  users: z.array(z.object({ username: z.string(), password: z.string(), email: z.string() })),
});

/** The environment a function would run with, from a running stack's facts (for `--reuse`). */
/** Per-user limits far above what the bench sends, so they never shape a figure. */
const RAISED_LIMITS = { ONBEHALF_USER_REQUESTS_PER_MINUTE: '1000000', ONBEHALF_USER_DAILY_TOKENS: '1000000000000' };

function functionEnvOf(facts: StackFacts): Record<string, string> {
  return {
    ...RAISED_LIMITS,
    TABLE_NAME: facts.tableName,
    AWS_REGION: facts.cognito.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    DYNAMODB_ENDPOINT: facts.dynamodbUrl,
    COGNITO_USER_POOL_ID: facts.cognito.userPoolId,
    COGNITO_CLIENT_ID: facts.cognito.clientId,
    COGNITO_ISSUER: `${facts.cognito.endpoint}/${facts.cognito.userPoolId}`,
    SCALEKIT_ENVIRONMENT_URL: facts.scalekit.environmentUrl,
    SCALEKIT_CLIENT_ID: facts.scalekit.clientId,
    SCALEKIT_CLIENT_SECRET: facts.scalekit.clientSecret,
    ANTHROPIC_API_KEY: 'local-stand-in-key',
    ANTHROPIC_BASE_URL: facts.modelUrl,
    ONBEHALF_DEFAULT_VERIFY_URL: `${facts.apiUrl}/_control/verified`,
    POWERTOOLS_SERVICE_NAME: 'onbehalf',
    POWERTOOLS_LOG_LEVEL: 'WARN',
  };
}

const resultsSchema = z.looseObject({
  generatedAt: z.string(),
  machine: z.looseObject({ nproc: z.number(), memory: z.string().nullable(), cpuModel: z.string().nullable(), node: z.string() }),
  scenarios: z.record(
    z.string(),
    z.looseObject({
      number: z.number(),
      title: z.string(),
      figures: z.array(z.object({ label: z.string(), value: z.union([z.number(), z.string(), z.null()]), unit: z.string().optional() })),
    }),
  ),
});

function printMarkdown(): void {
  const results = resultsSchema.parse(JSON.parse(readFileSync(RESULTS_FILE, 'utf8')));
  const rows = Object.values(results.scenarios)
    .sort((a, b) => a.number - b.number)
    .flatMap((scenario) => figureRows(`${scenario.number}. ${scenario.title}`, scenario.figures));
  console.log(
    `Measured ${results.generatedAt} on ${results.machine.nproc} × ${results.machine.cpuModel}, ${results.machine.memory} RAM, Node ${results.machine.node}.\n`,
  );
  console.log(markdownTable(['scenario', 'figure', 'value', 'unit / how'], rows));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options.markdown) return printMarkdown();
  const selected = options.only ?? [...SCENARIOS];
  const started = Date.now();
  // Other work on the machine skews everything: the load average says how much there was.
  const loadBefore = loadavg().map((value) => round(value, 2));
  const log = (message: string) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);

  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  // The chat function writes one EMF line of metrics per run to stdout, burying the tables. Its
  // Metrics read this from `process.env` (the in-process handlers' environment); `startStack`
  // passes only ONBEHALF_* settings on from its `env`, so it is set here, before the stack starts.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const timeline = new Timeline();
  const rpc = new RpcMeter(timeline);
  rpc.install();
  let modelUrl: string | undefined;
  timeModelCalls(timeline, () => modelUrl);

  let stack: LocalStack | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stack?.close();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the stack`);
      void stop().finally(() => process.exit(130));
    });
  }

  const results: Record<string, ScenarioResult & { number: number; title: string; seconds: number }> = {};
  const failures: string[] = [];
  let bench: Bench | undefined;
  try {
    if (options.reuse) {
      const facts = stackJson.parse(JSON.parse(readFileSync(options.stackFile, 'utf8')));
      log(`reusing the stack at ${facts.apiUrl} (handlers out of process: DynamoDB and Scalekit counts are n/a)`);
      bench = {
        facts,
        functionEnv: functionEnvOf(facts),
        inProcess: false,
        quick: options.quick,
        timeline,
        dynamo: undefined,
        rpc,
        people: new Map(facts.users.map((person) => [person.username, person])),
        log,
      };
    } else {
      log('starting the local stack in this process (memory only)');
      const world = benchWorld();
      stack = await startStack({
        world,
        port: 0,
        dataDir: undefined,
        // The bench drives many requests per user: the per-user limits are raised (a setting can still lower them).
        env: { ...RAISED_LIMITS, ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
      });
      // The handlers' DocumentClient (built once per container, after the stack set the environment).
      const { documentClient } = await import('../../functions/adapters/runtime');
      const dynamo = new DynamoMeter(await documentClient(), timeline);
      bench = {
        facts: stack.facts,
        functionEnv: stack.functionEnv,
        inProcess: true,
        quick: options.quick,
        timeline,
        dynamo,
        rpc,
        people: new Map(world.people.map((person) => [person.username, person])),
        log,
      };
    }
    modelUrl = bench.facts.modelUrl;

    log(`warming up (${BENCH_USER_SOLO} connects, one unmeasured turn)`);
    await setModelLatency(bench, 0);
    await setToolLatency(bench, 0);
    const warm = await user(bench, BENCH_USER_SOLO);
    const tag = marker('warm-up');
    await script(bench, tag, [toolTurn([{ name: 'asana_me_get', input: {} }]), textTurn('Warm.')]);
    await turn(bench, warm, undefined, `${tag} hello`, { reply: 'Warm.' });

    for (const scenario of selected) {
      log(`${scenario.number}. ${scenario.title}`);
      const scenarioStarted = Date.now();
      timeline.clear();
      try {
        const result = await scenario.run(bench);
        const seconds = round((Date.now() - scenarioStarted) / 1000, 1);
        results[scenario.id] = { number: scenario.number, title: scenario.title, seconds, ...result };
        console.log(
          `\n${textTable(['scenario', 'figure', 'value', 'unit / how'], figureRows(`${scenario.number}. ${scenario.id}`, result.figures))}\n`,
        );
        for (const note of result.notes) log(`  note: ${note}`);
        log(`  done in ${seconds} s`);
      } catch (error) {
        failures.push(`${scenario.id}: ${(error as Error).stack ?? String(error)}`);
        log(`  FAILED: ${(error as Error).message}`);
      }
    }
  } finally {
    if (bench) {
      await setModelLatency(bench, 0).catch(() => undefined);
      await setToolLatency(bench, 0).catch(() => undefined);
    }
    await stop();
  }

  const totalSeconds = round((Date.now() - started) / 1000, 0);
  const rows = Object.values(results)
    .sort((a, b) => a.number - b.number)
    .flatMap((result) => figureRows(`${result.number}. ${result.title.split(':')[0]}`, result.figures));
  console.log(`\n${textTable(['scenario', 'figure', 'value', 'unit / how'], rows)}\n`);
  log(`total ${totalSeconds} s`);

  const output = {
    generatedAt: new Date().toISOString(),
    machine: { ...machine(), loadAverage1m5m15m: { atStart: loadBefore, atEnd: loadavg().map((value) => round(value, 2)) } },
    run: {
      quick: options.quick,
      only: options.only?.map((scenario) => scenario.id) ?? null,
      stack: options.reuse ? `reused (${options.stackFile})` : 'in-process, memory only',
      totalSeconds,
      reproduce: 'npm ci && npm run bench',
    },
    scenarios: results,
    failures,
  };
  const complete = !options.quick && !options.only && !options.reuse && failures.length === 0;
  const target = options.out ?? (complete ? RESULTS_FILE : undefined);
  if (target) {
    writeFileSync(target, `${JSON.stringify(output, null, 2)}\n`);
    log(`figures written to ${target}`);
  } else {
    log('a quick, partial, reused or failed run: results.json left as it was (use --out FILE to keep these figures)');
  }
  if (failures.length > 0) {
    console.error(failures.join('\n\n'));
    process.exitCode = 1;
  }
}

main().then(
  // Open keep-alive sockets of SDK clients must not hold the process after the stack is gone.
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
