import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { completeConsent } from '../../client/consent';
import { startAsana, type AsanaEmulator } from '../../infra/local/asana/server';
import { type LocalCognito, startCognito } from '../../infra/local/cognito';
import { startGateway } from '../../infra/local/gateway';
import { startScalekit } from '../../infra/local/scalekit/server';
import { listen, type LocalService } from '../../infra/local/service';
import { cognitoFacts, type StackFacts } from '../../infra/local/stack';
import { marker, script, toolTurnAfter } from '../support/standins';

// The `agent` CLI run as a child process, exactly as a user runs it, against two stacks:
// - the suite's stack, for the Leadership OKR contrast between Alice and Bob (they may already
//   be connected by other files: the CLI copes with an ACTIVE connection);
// - a stack of this file's own — its own Cognito pool (so its users' subs, connections and
//   conversations are seen by no other file), Asana and Scalekit, the suite's DynamoDB and
//   Claude stand-in — whose chat asks for approval before `asana_task_create`.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const suite = inject('stack');
const world = inject('world');
const privateProject = world.projects.find((project) => !project.public)!;
const privateTasks = world.tasks.filter((task) => task.project === privateProject.gid).map((task) => task.name);
const website = world.projects.find((project) => project.public)!;
const websiteTasks = world.tasks.filter((task) => task.project === website.gid).map((task) => task.name);
const person = (username: string) => world.people.find((p) => p.username === username)!;

let dir: string;
let cacheDir: string;
let cognito: LocalCognito;
let asana: AsanaEmulator;
const services: LocalService[] = [];
/** Stack files: the suite's, this file's own, its own with a model-call budget of 1, and its own behind a recorder. */
const files = { suite: '', own: '', budget: '', recorded: '' };
/** Each request that went through the recorder: what it asked for and what kind of body it got. */
const recorded: { user: string; path: string; accept: string; contentType: string }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'onbehalf-cli-'));
  cacheDir = join(dir, 'cache');
  files.suite = writeStackFile('suite', suite);

  cognito = await startCognito({ users: world.people });
  const asanaClient = { clientId: 'cli-client', clientSecret: randomBytes(16).toString('hex') };
  const scalekitSecret = `sks_cli_${randomBytes(16).toString('hex')}`;
  asana = await startAsana({ world, oauthClients: [asanaClient] });
  const scalekit = await startScalekit({ asanaUrl: asana.url, asanaClient, clientId: 'skc_cli', clientSecret: scalekitSecret });
  services.push(cognito, asana, scalekit);
  // The handlers read their configuration at cold start: set it before importing them.
  Object.assign(process.env, inject('functionEnv'), {
    COGNITO_USER_POOL_ID: cognito.userPoolId,
    COGNITO_CLIENT_ID: cognito.clientId,
    COGNITO_ISSUER: cognito.issuer,
    SCALEKIT_ENVIRONMENT_URL: scalekit.url,
    SCALEKIT_CLIENT_ID: 'skc_cli',
    SCALEKIT_CLIENT_SECRET: scalekitSecret,
  });
  const [{ handler: connect }, { handler: verify }, { createChatHandler }] = await Promise.all([
    import('../../functions/connect/handler'),
    import('../../functions/verify/handler'),
    import('../../functions/chat/handler'),
  ]);
  const gateway = (chat: Parameters<typeof createChatHandler>[0]) =>
    startGateway({ port: 0, issuer: cognito.issuer, handlers: { connect, verify, chat: createChatHandler(chat) } });
  const own = await gateway({ settings: { toolPolicy: { asana_task_create: 'confirm' } } });
  const budget = await gateway({ settings: { modelCallBudget: 1 } });
  services.push(own, budget);
  const ownFacts: StackFacts = {
    ...suite,
    apiUrl: own.url,
    cognito: cognitoFacts(cognito),
    scalekit: { environmentUrl: scalekit.url, clientId: 'skc_cli', clientSecret: scalekitSecret },
    asanaUrl: asana.url,
  };
  files.own = writeStackFile('own', ownFacts);
  files.budget = writeStackFile('budget', { ...ownFacts, apiUrl: budget.url });
  const recorder = await record(own.url);
  services.push(recorder);
  files.recorded = writeStackFile('recorded', { ...ownFacts, apiUrl: recorder.url });
});

/** A pass-through proxy in front of `target` that notes each request's Accept and its answer's Content-Type. */
function record(target: string): Promise<LocalService> {
  return listen(
    createHttpServer((req, res) => {
      const token = (req.headers.authorization ?? '').split('.')[1] ?? '';
      const user = token === '' ? '' : String(JSON.parse(Buffer.from(token, 'base64url').toString()).username ?? '');
      const upstream = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
        recorded.push({
          user,
          path: req.url ?? '',
          accept: req.headers.accept ?? '',
          contentType: String(answer.headers['content-type'] ?? ''),
        });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    }),
  );
}

/** The run requests (the four run routes) a user made through the recorder. */
const runRequests = (user: string) =>
  recorded.filter((entry) => entry.user === user && /^\/conversations(\/[^/]+\/(messages|resume|approvals))?$/.test(entry.path));

afterAll(async () => {
  for (const service of services.reverse()) await service.close();
  rmSync(dir, { recursive: true, force: true });
});

function writeStackFile(name: string, facts: StackFacts): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(facts));
  return file;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `agent` as a child process; `stdin` is written and closed at once. */
function start(args: string[], options: { stdin?: string; env?: Record<string, string>; cache?: string } = {}) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'client/agent.ts', ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      ONBEHALF_CACHE_DIR: options.cache ?? cacheDir,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...options.env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners: (() => void)[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const listener of listeners) listener();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin!.end(options.stdin ?? '');
  const killer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
  /** Resolves with the first match of `pattern` on stdout. */
  const waitFor = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stdout);
        if (match) resolve(match);
      };
      listeners.push(check);
      check();
      void done.then(() => reject(new Error(`exited before ${pattern}: ${stdout}\n${stderr}`)));
    });
  return { done, waitFor };
}

/** Runs `agent` to its end. */
const agent = (args: string[], options: Parameters<typeof start>[1] = {}) => start(args, options).done;
/** Runs `agent` against this file's own stack. */
const own = (args: string[], options: Parameters<typeof start>[1] = {}) => agent(['--stack', files.own, ...args], options);

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

describe.concurrent('connect, connections, disconnect', { timeout: 60_000 }, () => {
  it('connects with --auto-consent, lists the pinned account, copes with ACTIVE, and disconnects', async () => {
    // Prepare
    const bob = person('bob');
    // Act
    const connected = await own(['--user', 'bob', 'connect', '--auto-consent']);
    const listed = await own(['--user', 'bob', 'connections']);
    const again = await own(['--user', 'bob', 'connect', '--auto-consent']);
    const disconnected = await own(['--user', 'bob', 'disconnect']);
    const after = await own(['--user', 'bob', 'connections', '--json']);
    // Assess
    expect(connected).toMatchObject({ code: 0 });
    expect(connected.stdout).toMatch(/^Authorize Asana: http:\/\/127\.0\.0\.1:\d+\/\S+$/m);
    expect(connected.stdout).toContain(`Connected to Asana as ${bob.name} <${bob.email}>.`);
    expect(listed).toMatchObject({ code: 0 });
    expect(listed.stdout).toMatch(new RegExp(`^asana\\s+ACTIVE\\s+${bob.name} <${bob.email}> \\(gid ${bob.asanaGid}\\)`, 'm'));
    expect(again).toMatchObject({ code: 0 });
    expect(again.stdout).toContain(`Asana is already connected as ${bob.name} <${bob.email}>.`);
    expect(again.stdout).not.toContain('Authorize Asana');
    expect(disconnected).toMatchObject({ code: 0, stdout: 'Disconnected Asana for bob.\n' });
    expect(jsonLines(after.stdout)).toEqual([
      { connections: [{ connection: 'asana', status: 'NOT_CONNECTED', account: null, checkedAt: null }] },
    ]);
  });

  it('finishes a connect in the browser: consent redirects to the loopback URL the CLI serves', async () => {
    // Prepare
    const tess = person('tess');
    const port = await closedPort();
    const run = start(['--stack', files.own, '--user', 'tess', 'connect', '--callback-port', String(port)]);
    const [, link] = await run.waitFor(/^Authorize Asana: (\S+)$/m);
    // Act: what the browser does — the consent form, then the redirect to the CLI.
    const landing = await completeConsent(link!, { email: tess.email, password: tess.password });
    const page = await fetch(landing);
    const result = await run.done;
    // Assess
    expect(landing.toString()).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/callback\\?`));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('You can close this tab');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('waiting for it to come back to http://127.0.0.1:');
    expect(result.stdout).toContain(`Connected to Asana as ${tess.name} <${tess.email}>.`);
  });

  it('gives up with exit 5 when the browser never comes back', async () => {
    const result = await own(['--user', 'theo', 'connect', '--wait', '1']);
    expect(result.code).toBe(5);
    expect(result.stdout).toMatch(/^Authorize Asana: http/m);
    expect(result.stderr).toContain('error: authorization_incomplete: The browser did not come back within 1 s.');
  });
});

describe.concurrent('chat', { timeout: 60_000 }, () => {
  it('connects first when needed, prints each tool call as the run reports it, then the reply', async () => {
    // Act
    const result = await own(['--user', 'alice', '--auto-consent', `What's in the ${website.name} project?`]);
    // Assess
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Authorize Asana: http/);
    expect(lines[1]).toBe(`Connected to Asana as ${person('alice').name} <${person('alice').email}>.`);
    const calls = lines.filter((line) => line.startsWith('-> Calling: '));
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(call).toMatch(/^-> Calling: asana_\w+$/);
    const reply = lines.at(-1)!;
    for (const task of websiteTasks) expect(reply).toContain(task);
    expect(result.stderr).toMatch(/\(conversation c_\w+; continue it with --conversation c_\w+\)/);
  });

  it('--json prints every run outcome as one JSON line and nothing else; --conversation continues one', async () => {
    // Act
    const first = await own(['--user', 'tina', '--auto-consent', '--json', `What's in the ${website.name} project?`]);
    const outcomes = jsonLines(first.stdout);
    const id = outcomes.at(-1)!.conversationId as string;
    const second = await own(['--user', 'tina', '--json', '--conversation', id, 'List my open tasks']);
    // Assess
    expect(first.code).toBe(0);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['needs_authorization', 'completed']);
    expect(outcomes[0]).toMatchObject({ conversationId: id, authorizationUrl: expect.stringMatching(/^http/) });
    expect(outcomes[1]).toMatchObject({ conversationId: id, reply: expect.stringContaining(websiteTasks[0]!), pendingApprovals: [] });
    expect(first.stderr).toContain('Authorize Asana: http');
    expect(second.code).toBe(0);
    expect(jsonLines(second.stdout)).toEqual([
      expect.objectContaining({ conversationId: id, status: 'completed', toolCalls: expect.any(Array) }),
    ]);
  });

  it('resumes in_progress runs until they complete', async () => {
    // The budget stack allows one model call per request.
    const result = await agent([
      '--stack',
      files.budget,
      '--user',
      'tilda',
      '--auto-consent',
      '--json',
      `What's in the ${website.name} project?`,
    ]);
    expect(result.code).toBe(0);
    const statuses = jsonLines(result.stdout).map((outcome) => outcome.status);
    expect(statuses).toContain('in_progress');
    expect(statuses.at(-1)).toBe('completed');
    expect(result.stderr).toContain('(still working: resuming)');
  });

  it(`answers "What's in the ${privateProject.name} board?" for Alice and not for Bob`, async () => {
    // Act: the suite's stack, as each of them.
    const question = `What's in the ${privateProject.name} board?`;
    const [alice, bob] = await Promise.all([
      agent(['--stack', files.suite, '--user', 'alice', '--auto-consent', question]),
      agent(['--stack', files.suite, '--user', 'bob', '--auto-consent', question]),
    ]);
    // Assess
    expect(alice.code).toBe(0);
    expect(bob.code).toBe(0);
    expect(alice.stdout).toMatch(/^-> Calling: asana_/m);
    for (const task of privateTasks) {
      expect(alice.stdout).toContain(task);
      expect(bob.stdout).not.toContain(task);
    }
  });
});

/** The tasks Asana was asked to create as this person since `since`. */
const created = (since: number, gid: string) =>
  asana.requests(since).filter((request) => request.method === 'POST' && request.path === '/api/1.0/tasks' && request.asanaUserGid === gid);

describe.concurrent('approvals', { timeout: 60_000 }, () => {
  it('asks on stdin for the default prompt and creates the task when answered y', async () => {
    // Prepare
    const toby = person('toby');
    const since = asana.requests().at(-1)?.seq ?? 0;
    // Act: no prompt → the default one, which creates a task (approval required on this stack).
    const result = await own(['--user', 'toby', '--auto-consent'], { stdin: 'y\n' });
    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('Claude wants to call asana_task_create with:');
    expect(result.stderr).toContain('"name": "Review Q3 roadmap"');
    expect(result.stderr).toContain('Approve asana_task_create? [y/N] y');
    expect(result.stdout).toMatch(/^-> Calling: asana_task_create$/m);
    expect(result.stdout).toContain('Review Q3 roadmap');
    expect(created(since, toby.asanaGid)).toHaveLength(1);
  });

  it('denies on anything but y: the tool never runs and the run still completes (exit 0)', async () => {
    const tara = person('tara');
    const since = asana.requests().at(-1)?.seq ?? 0;
    const result = await own(['--user', 'tara', '--auto-consent'], { stdin: 'n\n' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^-> Calling: asana_task_create \(denied\)$/m);
    expect(created(since, tara.asanaGid)).toHaveLength(0);
  });

  it('stops with exit 5 when stdin ends unanswered; --conversation finishes the run later', async () => {
    // Act
    const unanswered = await own(['--user', 'tom', '--auto-consent', '--json']);
    const outcomes = jsonLines(unanswered.stdout);
    const id = outcomes.at(-1)!.conversationId as string;
    const finished = await own(['--user', 'tom', '--conversation', id], { stdin: 'yes\n' });
    // Assess
    expect(unanswered.code).toBe(5);
    expect(outcomes.at(-1)).toMatchObject({
      status: 'awaiting_approval',
      pendingApprovals: [expect.objectContaining({ name: 'asana_task_create' })],
    });
    expect(unanswered.stderr).toContain('error: approval_unanswered: No answer to "Approve asana_task_create?" (stdin ended).');
    expect(unanswered.stderr).toContain(`continue it with --conversation ${id}`);
    expect(finished.code).toBe(0);
    expect(finished.stdout).toMatch(/^-> Calling: asana_task_create$/m);
  });
});

describe.concurrent('streaming', { timeout: 60_000 }, () => {
  const recordedRun = (args: string[], options: Parameters<typeof start>[1] = {}) => agent(['--stack', files.recorded, ...args], options);

  it('streams by default: each tool call is printed as it is made, before the reply', async () => {
    // Act
    const result = await recordedRun(['--user', 'tyler', '--auto-consent', `What's in the ${website.name} project?`]);
    // Assess: every run request was answered as an event stream.
    expect(result.code).toBe(0);
    const runs = runRequests('tyler');
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs)
      expect(run).toMatchObject({ accept: 'text/event-stream', contentType: expect.stringMatching(/^text\/event-stream/) });
    const lines = result.stdout.trim().split('\n');
    const calls = lines.flatMap((line, i) => (line.startsWith('-> Calling: ') ? [i] : []));
    const reply = lines.findIndex((line) => websiteTasks.every((task) => line.includes(task)));
    expect(calls.length).toBeGreaterThan(0);
    for (const i of calls) expect(lines[i]).toMatch(/^-> Calling: asana_\w+$/);
    expect(reply).toBeGreaterThan(calls.at(-1)!);
    expect(result.stderr).toMatch(/\(conversation c_\w+; continue it with --conversation c_\w+\)/);
  });

  it('--no-stream asks for one JSON answer per request and prints the same session', async () => {
    // Act
    const result = await recordedRun(['--user', 'tanya', '--auto-consent', '--no-stream', `What's in the ${website.name} project?`]);
    // Assess
    expect(result.code).toBe(0);
    const runs = runRequests('tanya');
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs)
      expect(run).toMatchObject({ accept: 'application/json', contentType: expect.stringMatching(/^application\/json/) });
    const lines = result.stdout.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('-> Calling: ')).length).toBeGreaterThan(0);
    for (const task of websiteTasks) expect(lines.at(-1)).toContain(task);
  });

  it('handles approvals in place while streaming: the waiting call, the question, then the call run', async () => {
    // Prepare
    const tobias = person('tobias');
    const since = asana.requests().at(-1)?.seq ?? 0;
    // Act: the default prompt creates a task, which waits for approval on this stack.
    const result = await recordedRun(['--user', 'tobias', '--auto-consent'], { stdin: 'y\n' });
    // Assess
    expect(result.code).toBe(0);
    const approvals = runRequests('tobias').filter((run) => run.path.endsWith('/approvals'));
    expect(approvals).toEqual([expect.objectContaining({ contentType: expect.stringMatching(/^text\/event-stream/) })]);
    const lines = result.stdout.trim().split('\n');
    const waiting = lines.indexOf('-> Calling: asana_task_create (awaiting approval)');
    const ran = lines.indexOf('-> Calling: asana_task_create');
    expect(waiting).toBeGreaterThanOrEqual(0);
    expect(ran).toBeGreaterThan(waiting);
    expect(lines.slice(ran + 1).join('\n')).toContain('Review Q3 roadmap');
    expect(result.stderr).toContain('Approve asana_task_create? [y/N] y');
    expect(created(since, tobias.asanaGid)).toHaveLength(1);
  });

  it('a failure after the stream started is reported with its code, after what the run printed, and how to go on', async () => {
    // Prepare: Claude asks for one read, then is overloaded on every later call (and its retries).
    const tag = marker('cli-fail');
    const overloaded = { status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } };
    await script(tag, [toolTurnAfter('Let me look.', { name: 'asana_me_get', input: {} }), overloaded]);
    // Act
    const result = await recordedRun(['--user', 'tamsin', '--auto-consent', `${tag} who am I?`]);
    // Assess: the stream carried the run until the failure; the CLI says what failed and where to resume.
    expect(result.code).toBe(1);
    const runs = runRequests('tamsin');
    expect(runs.at(-1)).toMatchObject({ accept: 'text/event-stream', contentType: expect.stringMatching(/^text\/event-stream/) });
    expect(result.stdout).toContain('Let me look.');
    expect(result.stdout).toContain('-> Calling: asana_me_get');
    expect(result.stderr).toMatch(/error: upstream_unavailable: /);
    expect(result.stderr).toMatch(/continue it with --conversation c_\w+/);
  });

  it('an early failure answered as JSON is reported as the API error', async () => {
    const missing = await recordedRun(['--user', 'tobin', '--conversation', 'c_00000000000000000000000', 'hello']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('error: not_found: No such conversation.');
    expect(runRequests('tobin')).toEqual([
      expect.objectContaining({ accept: 'text/event-stream', contentType: expect.stringMatching(/^application\/json/) }),
    ]);
  });
});

describe.concurrent('login and failures', { timeout: 60_000 }, () => {
  it('refuses a wrong password with exit 3 and a clear message', async () => {
    // Prepare: the local stack's facts with a wrong password for Tyra.
    const facts = JSON.parse(readFileSync(files.own, 'utf8')) as StackFacts;
    const wrong = writeStackFile('wrong-password', {
      ...facts,
      users: facts.users.map((user) => (user.username === 'tyra' ? { ...user, password: 'not-her-password' } : user)),
    });
    // Act
    const result = await agent(['--stack', wrong, '--user', 'tyra', 'connections']);
    // Assess
    expect(result).toMatchObject({ code: 3, stdout: '' });
    expect(result.stderr).toContain('error: auth_failed: Cognito refused tyra: Incorrect username or password.');
  });

  it('logs in to a deployment with --api and the password from the environment; a wrong one exits 3', async () => {
    // Prepare: the own stack as if deployed; a cache of its own so no token of earlier runs helps.
    const flags = [
      '--api',
      (JSON.parse(readFileSync(files.own, 'utf8')) as StackFacts).apiUrl,
      '--user',
      'tad',
      '--user-pool-client-id',
      cognito.clientId,
      '--region',
      cognito.region,
    ];
    const env = { ONBEHALF_COGNITO_ENDPOINT: cognito.url };
    const cache = join(dir, 'api-cache');
    // Act
    const wrong = await agent([...flags, 'connections'], { env: { ...env, ONBEHALF_PASSWORD: 'wrong' }, cache });
    const right = await agent([...flags, 'connections'], { env: { ...env, ONBEHALF_PASSWORD: person('tad').password }, cache });
    const missing = await agent([...flags.slice(0, 2), 'connections'], { env, cache: join(dir, 'no-cache') });
    // Assess
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('error: auth_failed: Cognito refused tad: Incorrect username or password.');
    expect(right.code).toBe(0);
    expect(right.stdout).toMatch(/^asana\s+NOT_CONNECTED/m);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error: usage: --api needs the Cognito app client id');
  });

  it('explains the Cognito challenges it cannot answer (new password, MFA) with exit 3', async () => {
    // Prepare: a Cognito endpoint that answers every password login with a challenge.
    let challenge = '';
    const service = await listen(
      createHttpServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ ChallengeName: challenge, Session: 'session', ChallengeParameters: {} }));
      }),
    );
    const run = (next: string) => {
      challenge = next;
      return agent(
        ['--api', 'https://api.example.test', '--user', 'carol', '--user-pool-client-id', 'client', '--region', 'eu-west-1', 'connections'],
        {
          env: { ONBEHALF_COGNITO_ENDPOINT: service.url, ONBEHALF_PASSWORD: 'Carol-pass-1' },
          cache: join(dir, 'challenge-cache'),
        },
      );
    };
    try {
      // Act
      const newPassword = await run('NEW_PASSWORD_REQUIRED');
      const mfa = await run('SOFTWARE_TOKEN_MFA');
      // Assess
      expect(newPassword.code).toBe(3);
      expect(newPassword.stderr).toContain('error: unsupported_challenge: Cognito asks for a new password (NEW_PASSWORD_REQUIRED)');
      expect(mfa.code).toBe(3);
      expect(mfa.stderr).toContain('error: unsupported_challenge: Cognito asks for multi-factor authentication (SOFTWARE_TOKEN_MFA)');
    } finally {
      await service.close();
    }
  });

  it('exits 4 with a clear message when the stack is not running', async () => {
    // Prepare: facts of a stack that is gone (nothing listens on its ports), and no facts at all.
    const port = await closedPort();
    const gone = writeStackFile('gone', {
      ...suite,
      apiUrl: `http://127.0.0.1:${port}`,
      cognito: { ...suite.cognito, endpoint: `http://127.0.0.1:${port}` },
    });
    // Act
    const down = await agent(['--stack', gone, 'What is in the Website project?']);
    const absent = await agent(['--stack', join(dir, 'never-written.json'), 'connections']);
    // Assess
    expect(down).toMatchObject({ code: 4, stdout: '' });
    expect(down.stderr).toContain(`error: unreachable: Cannot reach http://127.0.0.1:${port} (ECONNREFUSED).`);
    expect(down.stderr).toContain('Is the local stack running? Start it with `npm start`.');
    expect(absent.code).toBe(4);
    expect(absent.stderr).toContain('error: stack_not_running: No stack file at');
  });

  it('caches tokens (0600), refreshes an expired one with the refresh token, and replaces one the API refuses', async () => {
    // Prepare: a cache of its own; Ted logs in once.
    const cache = join(dir, 'ted-cache');
    const first = await own(['--user', 'ted', 'connections'], { cache });
    const [file] = readdirSync(cache);
    const path = join(cache, file!);
    const tokens = JSON.parse(readFileSync(path, 'utf8')) as { accessToken: string; refreshToken: string; expiresAt: number };
    // Refresh with a wrong password in the facts: only the refresh token can succeed.
    const facts = JSON.parse(readFileSync(files.own, 'utf8')) as StackFacts;
    const noPassword = writeStackFile('ted-wrong', { ...facts, users: facts.users.map((user) => ({ ...user, password: 'wrong' })) });
    // Act
    writeFileSync(path, JSON.stringify({ ...tokens, expiresAt: 0 }));
    const expired = await agent(['--stack', noPassword, '--user', 'ted', 'connections'], { cache });
    const refreshed = JSON.parse(readFileSync(path, 'utf8')) as typeof tokens;
    writeFileSync(path, JSON.stringify({ ...refreshed, accessToken: `${refreshed.accessToken.slice(0, -4)}AAAA` }));
    const refused = await agent(['--stack', noPassword, '--user', 'ted', 'connections'], { cache });
    // Assess
    expect(first.code).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    expect(expired.code).toBe(0);
    expect(refreshed.refreshToken).toBe(tokens.refreshToken);
    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.expiresAt).toBeGreaterThan(Date.now());
    expect(refused.code).toBe(0);
    expect(refused.stdout).toMatch(/^asana\s+NOT_CONNECTED/m);
  });

  it("shows the API's code and message with exit 1, and usage errors with exit 2", async () => {
    const missing = await own(['--user', 'tao', '--conversation', 'c_00000000000000000000000', 'hello']);
    const unknownFlag = await own(['--user', 'tao', '--frobnicate']);
    const unknownUser = await own(['--user', 'mallory', 'connections']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toContain('error: not_found: No such conversation.');
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("error: usage: Unknown option '--frobnicate'");
    expect(unknownUser.code).toBe(2);
    expect(unknownUser.stderr).toContain('error: usage: The local stack has no user "mallory".');
  });
});
