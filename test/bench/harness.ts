/**
 * The bench's way into the stack, as a client uses it: logs users in through Cognito's
 * `InitiateAuth`, connects their Asana account through the real consent flow, calls the API
 * over HTTP, and drives the stand-ins through their `_control` routes.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { z } from 'zod';
import { completeConsent } from '../../client/consent';
import type { StackFacts } from '../../infra/local/stack';
import type { DynamoMeter, RpcMeter, Timeline } from './meters';

/** A loopback verify URL, as a native client uses (nothing needs to listen there). */
export const VERIFY_URL = 'http://127.0.0.1:9/callback';

/** A person the bench signs in as. */
export interface BenchUser {
  readonly username: string;
  readonly password: string;
  readonly email: string;
  /** Cognito access token (valid for the whole run). */
  token: string;
  /** `sub` of the token: the Scalekit identifier and the DynamoDB partition. */
  sub: string;
}

/** Everything a scenario needs. */
export interface Bench {
  readonly facts: StackFacts;
  readonly functionEnv: Readonly<Record<string, string>>;
  /** Whether the handlers run in this process (only then can their DynamoDB and Scalekit traffic be counted). */
  readonly inProcess: boolean;
  readonly quick: boolean;
  readonly timeline: Timeline;
  /** The handlers' DocumentClient, counted (in-process stacks only). */
  readonly dynamo: DynamoMeter | undefined;
  readonly rpc: RpcMeter;
  /** Users by username; signed in and connected on first use. */
  readonly people: ReadonlyMap<string, { username: string; password: string; email: string }>;
  log(message: string): void;
}

const connectedUsers = new Map<string, Promise<BenchUser>>();

/** Signs `username` in and makes sure their Asana connection is ACTIVE (once per run). */
export function user(bench: Bench, username: string): Promise<BenchUser> {
  let pending = connectedUsers.get(username);
  if (!pending) {
    pending = connectUser(bench, username);
    connectedUsers.set(username, pending);
    pending.catch(() => connectedUsers.delete(username));
  }
  return pending;
}

async function connectUser(bench: Bench, username: string): Promise<BenchUser> {
  const person = bench.people.get(username);
  if (!person) throw new Error(`no such user in the stack: ${username}`);
  const token = await login(bench.facts, person.username, person.password);
  const benchUser: BenchUser = { ...person, token, sub: subOf(token) };
  const started = await call(bench, benchUser, 'POST', '/connections/asana', { verifyUrl: VERIFY_URL });
  const startBody = z.looseObject({ status: z.string(), authorizationUrl: z.string().optional() }).parse(started.body);
  if (startBody.status === 'ACTIVE') return benchUser;
  if (!startBody.authorizationUrl) throw new Error(`connect gave no link for ${username}: ${JSON.stringify(started.body)}`);
  // Locally a person's Asana password is their Cognito password.
  const landing = await completeConsent(startBody.authorizationUrl, { email: person.email, password: person.password });
  const verified = await call(bench, benchUser, 'POST', '/connections/asana/verify', {
    authRequestId: landing.searchParams.get('auth_request_id') ?? '',
    state: landing.searchParams.get('state') ?? '',
  });
  if (verified.status !== 200) throw new Error(`verify failed for ${username}: ${verified.status} ${JSON.stringify(verified.body)}`);
  return benchUser;
}

/** `InitiateAuth` `USER_PASSWORD_AUTH`, as a client logs in. */
export async function login(facts: StackFacts, username: string, password: string): Promise<string> {
  const client = new CognitoIdentityProviderClient({
    endpoint: facts.cognito.endpoint,
    region: facts.cognito.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const result = await client.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: facts.cognito.clientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
    );
    const token = result.AuthenticationResult?.AccessToken;
    if (!token) throw new Error(`no access token for ${username}`);
    return token;
  } finally {
    client.destroy();
  }
}

/** The `sub` claim of a token we were just issued (read, not verified: the API verifies it). */
function subOf(token: string): string {
  const payload = token.split('.')[1] ?? '';
  return z.object({ sub: z.string() }).parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))).sub;
}

/** An API answer with the client-side wall time of the request. */
export interface ApiReply {
  readonly status: number;
  readonly body: unknown;
  readonly ms: number;
  /** `performance.now()` at the start and end of the request (for splitting by upstream). */
  readonly from: number;
  readonly to: number;
}

/** Calls the API (or another gateway at `apiUrl`) as `caller`. */
export async function call(
  bench: Bench,
  caller: BenchUser,
  method: string,
  path: string,
  body?: unknown,
  apiUrl = bench.facts.apiUrl,
): Promise<ApiReply> {
  const from = performance.now();
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${caller.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const to = performance.now();
  let parsed: unknown = text;
  try {
    parsed = text ? (JSON.parse(text) as unknown) : null;
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body: parsed, ms: to - from, from, to };
}

/** The outcome of a run (`API.md`), as far as the bench reads it. */
export const runOutcome = z.looseObject({
  conversationId: z.string(),
  status: z.string(),
  reply: z.string().nullable(),
  toolCalls: z.array(z.looseObject({ name: z.string(), outcome: z.string(), durationMs: z.number().nullable() })),
});
export type RunOutcome = z.infer<typeof runOutcome>;

/** One user turn: a new conversation (`id` undefined) or the next message; fails unless it completed as expected. */
export async function turn(
  bench: Bench,
  caller: BenchUser,
  id: string | undefined,
  message: string,
  expect: { reply?: string; tools?: number } = {},
  apiUrl?: string,
): Promise<ApiReply & { outcome: RunOutcome }> {
  const reply =
    id === undefined
      ? await call(bench, caller, 'POST', '/conversations', { message }, apiUrl)
      : await call(bench, caller, 'POST', `/conversations/${id}/messages`, { message }, apiUrl);
  if (reply.status !== 200 && reply.status !== 201) {
    throw new Error(`turn failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  const outcome = runOutcome.parse(reply.body);
  if (outcome.status !== 'completed') throw new Error(`turn ended ${outcome.status}: ${JSON.stringify(reply.body)}`);
  if (expect.reply !== undefined && outcome.reply !== expect.reply) {
    throw new Error(`unexpected reply ${JSON.stringify(outcome.reply)} (wanted ${JSON.stringify(expect.reply)})`);
  }
  if (expect.tools !== undefined) {
    const succeeded = outcome.toolCalls.filter((toolCall) => toolCall.outcome === 'succeeded').length;
    if (succeeded !== expect.tools) throw new Error(`expected ${expect.tools} succeeded tool calls: ${JSON.stringify(outcome.toolCalls)}`);
  }
  return { ...reply, outcome };
}

// ─── Stand-ins ──────────────────────────────────────────────────────────────────────────────

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  await response.body?.cancel();
}

/** Added delay per model response (Claude stand-in). */
export const setModelLatency = (bench: Bench, ms: number) => post(`${bench.facts.modelUrl}/_control/latency`, { ms });
/** Added delay per tool execution (Scalekit emulator). */
export const setToolLatency = (bench: Bench, ms: number) => post(`${bench.facts.scalekit.environmentUrl}/_control/latency`, { ms });

/** Scripts the Claude stand-in for conversations whose first user message contains `match`. */
export const script = (bench: Bench, match: string, turns: unknown[]) => post(`${bench.facts.modelUrl}/_control/scripts`, { match, turns });

/** A marker no other conversation contains. */
export const marker = (label: string) => `[bench ${label} ${randomUUID().slice(0, 8)}]`;

export interface ScriptedToolUse {
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/** A scripted assistant message: a sentence, then `uses` as parallel tool calls. */
export const toolTurn = (uses: readonly ScriptedToolUse[], preamble = 'Let me look that up.') => ({
  role: 'assistant',
  type: 'message',
  content: [
    { type: 'text', text: preamble },
    ...uses.map((use) => ({
      type: 'tool_use',
      id: `toolu_${randomUUID().replace(/-/g, '').slice(0, 22)}`,
      name: use.name,
      input: use.input,
    })),
  ],
  stop_reason: 'tool_use',
});

/** A scripted final answer. */
export const textTurn = (text: string) => ({
  role: 'assistant',
  type: 'message',
  content: [{ type: 'text', text }],
  stop_reason: 'end_turn',
});

const executionSchema = z.object({
  executions: z.array(
    z.looseObject({
      seq: z.number(),
      toolName: z.string(),
      identifier: z.string(),
      startedAt: z.string(),
      finishedAt: z.string(),
      outcome: z.string(),
    }),
  ),
});
export type Execution = z.infer<typeof executionSchema>['executions'][number];

/** The Scalekit emulator's executions after `since`. */
export async function executions(bench: Bench, since = 0): Promise<Execution[]> {
  const response = await fetch(`${bench.facts.scalekit.environmentUrl}/_control/executions?since=${since}`);
  return executionSchema.parse(await response.json()).executions;
}

/** The newest execution's sequence number (a cursor). */
export const executionCursor = async (bench: Bench) => (await executions(bench)).at(-1)?.seq ?? 0;

/** Three realistic reads per turn against the world's public project (every workspace member sees it). */
export function threeReads(projectGid: string): ScriptedToolUse[] {
  return [
    { name: 'asana_me_get', input: {} },
    { name: 'asana_workspaces_list', input: {} },
    { name: 'asana_project_tasks_list', input: { project_gid: projectGid } },
  ];
}
