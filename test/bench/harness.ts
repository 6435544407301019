/**
 * The bench's way into the stack, as a client uses it: logs users in through Cognito's
 * `InitiateAuth`, connects their Asana account through the real consent flow, calls the API
 * over HTTP, and drives the stand-ins through their `_control` routes.
 */
import { performance } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
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
  const reply = await call(bench, caller, 'POST', runPath(id), { message }, apiUrl);
  if (reply.status !== 200 && reply.status !== 201) {
    throw new Error(`turn failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  return { ...reply, outcome: expectedOutcome(reply.body, expect) };
}

/** The run route of a turn: a new conversation (`id` undefined) or the next message. */
const runPath = (id: string | undefined) => (id === undefined ? '/conversations' : `/conversations/${id}/messages`);

/** A run's outcome, checked: completed, with the reply and the number of succeeded tool calls expected. */
function expectedOutcome(body: unknown, expect: { reply?: string; tools?: number }): RunOutcome {
  const outcome = runOutcome.parse(body);
  if (outcome.status !== 'completed') throw new Error(`turn ended ${outcome.status}: ${JSON.stringify(body)}`);
  if (expect.reply !== undefined && outcome.reply !== expect.reply) {
    throw new Error(`unexpected reply ${JSON.stringify(outcome.reply)} (wanted ${JSON.stringify(expect.reply)})`);
  }
  if (expect.tools !== undefined) {
    const succeeded = outcome.toolCalls.filter((toolCall) => toolCall.outcome === 'succeeded').length;
    if (succeeded !== expect.tools) throw new Error(`expected ${expect.tools} succeeded tool calls: ${JSON.stringify(outcome.toolCalls)}`);
  }
  return outcome;
}

// ─── Streamed runs ──────────────────────────────────────────────────────────────────────────

/** When a streamed run's answer arrived, in ms at the client from the start of its `fetch`. */
export interface StreamTimes {
  /** `fetch` resolved: status and headers. */
  readonly headersMs: number;
  /** The first chunk of the body (TTFB). */
  readonly firstByteMs: number;
  /** The first event, which is always `run`. */
  readonly firstEventMs: number;
  /** The first `tool_call` and the first `text` event (`undefined` when the run sent none). */
  readonly firstToolCallMs: number | undefined;
  readonly firstTextMs: number | undefined;
}

/** An event of a stream with the time its chunk was read (ms from the start of `fetch`). */
interface TimedEvent {
  readonly event: string;
  readonly data: string;
  readonly ms: number;
}

/**
 * One user turn as a streamed run (`Accept: text/event-stream`), as {@link turn} but read event
 * by event as a streaming client reads it; fails unless the stream opens with `run` and ends
 * with an `outcome` that completed as expected.
 */
export async function streamedTurn(
  bench: Bench,
  caller: BenchUser,
  id: string | undefined,
  message: string,
  expect: { reply?: string; tools?: number } = {},
): Promise<ApiReply & { outcome: RunOutcome; times: StreamTimes }> {
  const from = performance.now();
  const response = await fetch(`${bench.facts.apiUrl}${runPath(id)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller.token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ message }),
  });
  const headersMs = performance.now() - from;
  if (response.status !== 200 || !response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
    throw new Error(`streamed turn failed: ${response.status} ${await response.text()}`);
  }
  const { firstByteMs, events } = await readEventStream(response.body, from);
  const to = performance.now();
  if (events[0]?.event !== 'run') throw new Error(`the stream opened with ${events[0]?.event ?? 'nothing'}, not run`);
  const last = events.at(-1)!;
  if (last.event !== 'outcome') throw new Error(`the stream ended with ${last.event}: ${last.data}`);
  const body: unknown = JSON.parse(last.data);
  const firstOf = (name: string) => events.find((event) => event.event === name)?.ms;
  return {
    status: response.status,
    body,
    ms: to - from,
    from,
    to,
    outcome: expectedOutcome(body, expect),
    times: { headersMs, firstByteMs, firstEventMs: events[0].ms, firstToolCallMs: firstOf('tool_call'), firstTextMs: firstOf('text') },
  };
}

/** Reads an event stream to its end: its events (comments skipped) and when its first bytes came. */
async function readEventStream(body: ReadableStream<Uint8Array>, from: number): Promise<{ firstByteMs: number; events: TimedEvent[] }> {
  const events: TimedEvent[] = [];
  let readAtMs = Number.NaN;
  const parser = createParser({ onEvent: ({ event, data }) => events.push({ event: event ?? 'message', data, ms: readAtMs }) });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let firstByteMs = Number.NaN;
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    readAtMs = performance.now() - from;
    if (Number.isNaN(firstByteMs)) firstByteMs = readAtMs;
    parser.feed(decoder.decode(chunk.value, { stream: true }));
  }
  return { firstByteMs, events };
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
