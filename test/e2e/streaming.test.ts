import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startGateway } from '../../infra/local/gateway';
import { type ModelStandIn, startModel } from '../../infra/local/model/server';
import type { LocalService } from '../../infra/local/service';
import { modelControl } from '../stack/control';
import { api } from '../support/auth';
import { connected } from '../support/connect';
import { control, marker, textTurn, toolTurn } from '../support/standins';

/**
 * Runs at realistic latencies, JSON and streamed (`Accept: text/event-stream`), through the real
 * chat handler behind a gateway of this file's own (API Gateway's 29 s limit on buffered
 * answers) and a Claude stand-in of its own (so its latency slows no other file). Tools run at
 * the suite's Scalekit, with a latency on one tool only. Nothing here asserts on time: order,
 * status and stored state only.
 */

const USER = 'tessa';
/** The one tool the scripts call, slowed at the shared Scalekit (no other test file scripts it). */
const SLOW_TOOL = 'asana_task_subtasks_list';
const MODEL_LATENCY_MS = 4_000;
const TOOL_LATENCY_MS = 1_000;

let model: ModelStandIn;
let gateway: LocalService;
let token: string;

beforeAll(async () => {
  model = await startModel({ port: 0 });
  Object.assign(process.env, inject('functionEnv'), { ANTHROPIC_BASE_URL: model.url });
  const { createChatHandler } = await import('../../functions/chat/handler');
  const stack = inject('stack');
  gateway = await startGateway({
    port: 0,
    issuer: `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`,
    handlers: { chat: createChatHandler() },
  });
  token = await connected(USER);
  await control().scalekit.setLatency(TOOL_LATENCY_MS, SLOW_TOOL);
}, 60_000);

afterAll(async () => {
  await control().scalekit.setLatency(0, SLOW_TOOL);
  await gateway?.close();
  await model?.close();
});

const claude = () => modelControl(model.url);
const call = (method: string, path: string, body?: unknown) => api(method, path, { token, apiUrl: gateway.url, body });

interface StreamEvent {
  readonly event: string;
  readonly data: any;
}

/** An SSE request as a client makes it; `stopAfter` drops the connection once that many events arrived. */
async function stream(
  path: string,
  body: unknown,
  options: { token?: string; stopAfter?: number } = {},
): Promise<{ status: number; contentType: string; events: StreamEvent[]; json?: any; comments: number }> {
  const controller = new AbortController();
  const response = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      ...(options.token === '' ? {} : { authorization: `Bearer ${options.token ?? token}` }),
    },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/event-stream')) {
    return { status: response.status, contentType, events: [], json: await response.json(), comments: 0 };
  }
  const events: StreamEvent[] = [];
  let comments = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        if (frame.startsWith(':')) {
          comments++;
          continue;
        }
        const name = /^event: (.+)$/m.exec(frame)?.[1];
        const data = /^data: (.+)$/m.exec(frame)?.[1];
        if (name && data) events.push({ event: name, data: JSON.parse(data) });
      }
      if (options.stopAfter !== undefined && events.length >= options.stopAfter) {
        controller.abort();
        break;
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return { status: response.status, contentType, events, comments };
}

/** The text deltas of a stream joined, after applying its `text_reset`s (each drops the text since the last `tool_call` or reset). */
function joinedText(events: readonly StreamEvent[]): string {
  let kept = '';
  let sinceMark = '';
  for (const { event, data } of events) {
    if (event === 'text') sinceMark += data.delta;
    if (event === 'tool_call') {
      kept += sinceMark;
      sinceMark = '';
    }
    if (event === 'text_reset') sinceMark = '';
  }
  return kept + sinceMark;
}

/** The text blocks of the assistant messages stored after message `from`, joined as the contract says. */
function storedText(messages: readonly { role: string; content: readonly { type: string; text?: string }[] }[], from: number): string {
  return messages
    .slice(from)
    .filter((message) => message.role === 'assistant')
    .flatMap((message) => message.content.filter((block) => block.type === 'text').map((block) => block.text ?? ''))
    .join('\n\n');
}

/** Eight model calls: seven ask for the slow tool after a sentence, the last answers. */
const eightCalls = () => [
  ...Array.from({ length: 7 }, (_, i) => ({
    ...toolTurn({ name: SLOW_TOOL, input: { task_gid: `${1000 + i}` } }),
    content: [
      { type: 'text', text: `Step ${i + 1}: looking at the subtasks.` },
      {
        type: 'tool_use',
        id: `toolu_step${i + 1}_${Math.random().toString(36).slice(2, 10)}`,
        name: SLOW_TOOL,
        input: { task_gid: `${1000 + i}` },
      },
    ],
  })),
  textTurn('All eight steps are done.'),
];

describe('a run at realistic latencies', () => {
  it('answers JSON as in_progress within the gateway limit (never 504), and resumes finish it', { timeout: 240_000 }, async () => {
    const tag = marker('json-slow');
    await claude().script(tag, eightCalls());
    await claude().setLatency(MODEL_LATENCY_MS);

    const first = await call('POST', '/conversations', { message: `${tag} eight steps` });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('in_progress');
    const id = first.body.conversationId;
    let last = first.body;
    let requests = 1;
    while (last.status === 'in_progress' && requests < 5) {
      const next = await call('POST', `/conversations/${id}/resume`, {});
      expect(next.status).toBe(200);
      last = next.body;
      requests++;
    }

    expect(last).toMatchObject({ status: 'completed', reply: 'All eight steps are done.' });
    const stored = await call('GET', `/conversations/${id}`);
    // Every tool ran once, across the requests: none repeated, none lost.
    expect(stored.body.toolCalls).toHaveLength(7);
    expect(new Set(stored.body.toolCalls.map((toolCall: { toolUseId: string }) => toolCall.toolUseId)).size).toBe(7);
  });

  it('streams the same run to its end in one request, in order, and stores what it streamed', { timeout: 240_000 }, async () => {
    const tag = marker('sse-slow');
    await claude().script(tag, eightCalls());
    await claude().setLatency(MODEL_LATENCY_MS);

    const { status, contentType, events } = await stream('/conversations', { message: `${tag} eight steps` });

    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/event-stream/);
    const names = events.map((event) => event.event);
    expect(names[0]).toBe('run');
    expect(names.filter((name) => name === 'outcome')).toHaveLength(1);
    expect(names.at(-1)).toBe('outcome');
    expect(names).not.toContain('error');
    expect(names.indexOf('run')).toBeLessThan(names.indexOf('tool_call'));
    const calls = events.filter((event) => event.event === 'tool_call').map((event) => event.data.toolUseId);
    expect(calls).toHaveLength(7);
    for (const id of calls) {
      const called = events.findIndex((event) => event.event === 'tool_call' && event.data.toolUseId === id);
      const answered = events.findIndex((event) => event.event === 'tool_result' && event.data.toolUseId === id);
      expect(called).toBeGreaterThanOrEqual(0);
      expect(answered).toBeGreaterThan(called);
    }
    const outcome = events.at(-1)!.data;
    const id = events[0]!.data.conversationId;
    expect(outcome).toMatchObject({ conversationId: id, status: 'completed', reply: 'All eight steps are done.' });
    const stored = await call('GET', `/conversations/${id}`);
    expect(stored.body.status).toBe(outcome.status);
    expect(stored.body.toolCalls.map((toolCall: { toolUseId: string }) => toolCall.toolUseId)).toEqual(
      outcome.toolCalls.map((toolCall: { toolUseId: string }) => toolCall.toolUseId),
    );
    expect(joinedText(events)).toBe(storedText(stored.body.messages, 1));
  });

  it('finishes and stores a run whose client went away mid-stream; meanwhile the conversation is busy', { timeout: 120_000 }, async () => {
    const tag = marker('sse-gone');
    await claude().script(tag, [
      toolTurn({ name: SLOW_TOOL, input: { task_gid: '2001' } }),
      toolTurn({ name: SLOW_TOOL, input: { task_gid: '2002' } }),
      textTurn('Finished without anyone listening.'),
    ]);
    await claude().setLatency(MODEL_LATENCY_MS);

    const { events } = await stream('/conversations', { message: `${tag} go away` }, { stopAfter: 1 });
    const id = events[0]!.data.conversationId;
    const busy = await call('POST', `/conversations/${id}/resume`, {});
    let view = await call('GET', `/conversations/${id}`);
    for (let i = 0; i < 60 && view.body.status !== 'completed'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      view = await call('GET', `/conversations/${id}`);
    }

    expect(events[0]!.event).toBe('run');
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('conversation_busy');
    expect(view.body.status).toBe('completed');
    expect(view.body.toolCalls).toHaveLength(2);
    expect(view.body.messages.at(-1).content).toEqual([{ type: 'text', text: 'Finished without anyone listening.' }]);
  });
});

describe('streamed requests that fail', () => {
  it('answer JSON with their status when they fail before the run starts', async () => {
    await claude().setLatency(0);
    const tag = marker('sse-early');
    await claude().script(tag, [textTurn('Hello.')]);
    const made = await call('POST', '/conversations', { message: `${tag} hello` });

    const badToken = await stream('/conversations', { message: 'hi' }, { token: 'not-a-token' });
    const unknown = await stream('/conversations/c_0000000000000000000000/resume', {});
    const tooLarge = await stream('/conversations', { message: 'é'.repeat(8_200) });
    const invalid = await stream(`/conversations/${made.body.conversationId}/messages`, { message: ' ' });

    expect([badToken.status, unknown.status, tooLarge.status, invalid.status]).toEqual([401, 404, 413, 400]);
    for (const answer of [badToken, unknown, tooLarge, invalid]) {
      expect(answer.contentType).toMatch(/^application\/json/);
      expect(answer.events).toEqual([]);
    }
    expect(unknown.json.error.code).toBe('not_found');
    expect(tooLarge.json.error.code).toBe('payload_too_large');
  });

  it('answers 409 as JSON to a streamed request on a busy conversation', { timeout: 60_000 }, async () => {
    const tag = marker('sse-busy');
    await claude().script(tag, [toolTurn({ name: SLOW_TOOL, input: { task_gid: '3001' } }), textTurn('Done.')]);
    await claude().setLatency(MODEL_LATENCY_MS);
    const running = stream('/conversations', { message: `${tag} slow` });
    let id: string | undefined;
    for (let i = 0; i < 40 && !id; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const list = await call('GET', '/conversations?limit=5');
      id = list.body.conversations.find((conversation: { title: string }) => conversation.title.includes(tag))?.conversationId;
    }

    const busy = await stream(`/conversations/${id}/resume`, {});
    const finished = await running;

    expect(busy.status).toBe(409);
    expect(busy.contentType).toMatch(/^application\/json/);
    expect(busy.json.error.code).toBe('conversation_busy');
    expect(finished.events.at(-1)).toMatchObject({ event: 'outcome', data: { status: 'completed' } });
  });

  it('ends with one error event naming the conversation when Claude fails mid-run, and resume works', { timeout: 60_000 }, async () => {
    await claude().setLatency(0);
    const tag = marker('sse-fail');
    const overloaded = { status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } };
    // The first call answers with text and a tool; every later call (and its retry) is refused.
    await claude().script(tag, [
      {
        ...toolTurn({ name: SLOW_TOOL, input: { task_gid: '4001' } }),
        content: [
          { type: 'text', text: 'Let me look.' },
          { type: 'tool_use', id: 'toolu_fail_4001', name: SLOW_TOOL, input: { task_gid: '4001' } },
        ],
      },
      overloaded,
    ]);

    const { status, events } = await stream('/conversations', { message: `${tag} fail` });

    expect(status).toBe(200);
    const names = events.map((event) => event.event);
    expect(names.filter((name) => name === 'error')).toHaveLength(1);
    expect(names.at(-1)).toBe('error');
    expect(names).not.toContain('outcome');
    const failure = events.at(-1)!.data;
    const id = events[0]!.data.conversationId;
    expect(failure).toEqual({ error: { code: 'upstream_unavailable', message: expect.any(String) }, conversationId: id });
    // The stored history holds one assistant message: the resumed call is the script's turn 1.
    await claude().script(tag, [textTurn('Not used.'), textTurn('Recovered.')]);

    const resumed = await stream(`/conversations/${id}/resume`, {});

    expect(resumed.events.at(-1)).toMatchObject({ event: 'outcome', data: { status: 'completed', reply: 'Recovered.' } });
  });
});
