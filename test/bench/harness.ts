/**
 * The bench's way into the stack, as a client uses it: logs users in through Cognito's
 * `InitiateAuth`, connects their Asana account through the real consent flow, calls the API
 * over HTTP, and drives the stand-ins through their `_control` routes.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { StackFacts } from '../../infra/local/stack';
import { ensureConnected } from '../stack/connect';
import { cursor, type Execution, type StackControl, stackControl } from '../stack/control';
import { callApi } from '../stack/http';
import { passwordLogin, subOf } from '../stack/login';
import { type ScriptedToolUse, textTurn, toolTurnAfter, marker as uniqueMarker } from '../stack/turns';
import type { DynamoMeter, RpcMeter, Timeline } from './meters';

export { VERIFY_URL } from '../stack/connect';
export type { Execution, ScriptedToolUse };
export { textTurn };

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
  // Locally a person's Asana password is their Cognito password.
  await ensureConnected((method, path, body) => call(bench, benchUser, method, path, body), person);
  return benchUser;
}

/** `InitiateAuth` `USER_PASSWORD_AUTH`, as a client logs in; the access token. */
export async function login(facts: StackFacts, username: string, password: string): Promise<string> {
  return (await passwordLogin(facts.cognito, username, password)).accessToken;
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
  const { status, body: parsed } = await callApi(apiUrl, method, path, { token: caller.token, body });
  const to = performance.now();
  return { status, body: parsed, ms: to - from, from, to };
}

/** The outcome of a run (`docs/api.md`), as far as the bench reads it. */
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

/** The stand-ins' control routes of the bench's stack. */
export const control = (bench: Bench): StackControl => stackControl(bench.facts);

/** Added delay per model response (Claude stand-in). */
export const setModelLatency = async (bench: Bench, ms: number): Promise<void> => void (await control(bench).model.setLatency(ms));
/** Added delay per tool execution (Scalekit emulator). */
export const setToolLatency = async (bench: Bench, ms: number): Promise<void> => void (await control(bench).scalekit.setLatency(ms));

/** Scripts the Claude stand-in for conversations whose first user message contains `match`. */
export const script = async (bench: Bench, match: string, turns: unknown[]): Promise<void> =>
  void (await control(bench).model.script(match, turns));

/** A marker no other conversation contains. */
export const marker = (label: string) => uniqueMarker(`bench ${label}`);

/** A scripted assistant message: a sentence, then `uses` as parallel tool calls. */
export const toolTurn = (uses: readonly ScriptedToolUse[], preamble = 'Let me look that up.') => toolTurnAfter(preamble, ...uses);

/** The Scalekit emulator's executions after `since`. */
export const executions = (bench: Bench, since = 0): Promise<Execution[]> => control(bench).scalekit.executions(since);

/** The newest execution's sequence number (a cursor). */
export const executionCursor = (bench: Bench) => cursor(() => executions(bench));

/** Three realistic reads per turn against the world's public project (every workspace member sees it). */
export function threeReads(projectGid: string): ScriptedToolUse[] {
  return [
    { name: 'asana_me_get', input: {} },
    { name: 'asana_workspaces_list', input: {} },
    { name: 'asana_project_tasks_list', input: { project_gid: projectGid } },
  ];
}
