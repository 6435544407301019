import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ProxyHandler, type StreamingProxyHandler, startGateway } from '../../infra/local/gateway';
import type { LocalService } from '../../infra/local/service';
import { login } from '../support/auth';

/**
 * The local gateway runs handlers as the Lambda runtime does: `awslambda` is there when a handler
 * module loads, a handler wrapped with `streamifyResponse` writes a JSON prelude and 8 NUL bytes
 * through `HttpResponseStream.from`, and the gateway streams the body with chunked transfer (a
 * request for `text/event-stream`) or buffers it under API Gateway's limit (every other request).
 * The limit is an option here so the test need not wait 29 s; nothing below asserts on time.
 */

const stack = inject('stack');
const LIMIT_MS = 300;

/** A gate a handler waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

let gates = new Map<string, ReturnType<typeof gate>>();
const gateFor = (name: string) => {
  let found = gates.get(name);
  if (!found) {
    found = gate();
    gates.set(name, found);
  }
  return found;
};

/** What the streaming handler did, by request id (the test's `run` query value). */
const finished = new Map<string, string[]>();

// The handler module would call this when it loads; the gateway's import has provided the global.
const streamed: StreamingProxyHandler = awslambda.streamifyResponse(
  async (event: APIGatewayProxyEvent, responseStream: awslambda.HttpResponseStream) => {
    const mode = event.queryStringParameters?.mode ?? 'events';
    const run = event.queryStringParameters?.run ?? 'none';
    if (mode === 'throws') throw new Error('the function failed before answering');
    if (mode === 'end-only') {
      // No write(): the runtime sends no prelude, so the answer is malformed.
      awslambda.HttpResponseStream.from(responseStream, { statusCode: 200, headers: { 'content-type': 'application/json' } }).end('{}');
      return;
    }
    const stream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201,
      headers: { 'content-type': 'text/event-stream', 'x-from-prelude': 'yes' },
    });
    const log: string[] = [];
    stream.write('event: first\ndata: {}\n\n');
    log.push('first');
    await gateFor(run).opened;
    stream.write('event: second\ndata: {}\n\n');
    log.push('second');
    stream.end();
    finished.set(run, log);
  },
);

const slowBuffered: ProxyHandler = async (event) => {
  await gateFor(event.queryStringParameters?.run ?? 'none').opened;
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"late":true}' };
};

let gateway: LocalService;
let token: string;
beforeAll(async () => {
  gateway = await startGateway({
    port: 0,
    issuer: `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`,
    bufferedTimeoutMs: LIMIT_MS,
    handlers: { chat: streamed, connect: slowBuffered },
  });
  ({ accessToken: token } = await login('alice'));
});
afterAll(async () => {
  for (const { open } of gates.values()) open();
  gates = new Map();
  await gateway.close();
});

const get = (path: string, accept = 'application/json', signal?: AbortSignal) =>
  fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}`, accept }, signal });

const afterLimit = () => new Promise((resolve) => setTimeout(resolve, LIMIT_MS * 3));

describe('the local gateway runs streaming handlers as Lambda does', () => {
  it('provides the awslambda global that marks a handler as streaming', () => {
    expect(typeof awslambda.streamifyResponse).toBe('function');
    expect(typeof awslambda.HttpResponseStream.from).toBe('function');
  });

  it('streams an event-stream answer: status and headers from the prelude, the first event before the function has finished', async () => {
    const response = await get('/conversations?run=stream-1', 'text/event-stream');
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('x-from-prelude')).toBe('yes');
    expect(response.headers.get('transfer-encoding')).toBe('chunked');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    while (!received.includes('\n\n')) {
      const { value } = await reader.read();
      received += decoder.decode(value, { stream: true });
    }
    // The function is still waiting at its gate: what arrived was streamed, not buffered.
    expect(received).toBe('event: first\ndata: {}\n\n');
    expect(finished.has('stream-1')).toBe(false);
    gateFor('stream-1').open();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      received += decoder.decode(value, { stream: true });
    }
    expect(received).toBe('event: first\ndata: {}\n\nevent: second\ndata: {}\n\n');
    expect(finished.get('stream-1')).toEqual(['first', 'second']);
  });

  it('is not bound by the buffered limit when it streams', async () => {
    const pending = get('/conversations?run=stream-long', 'text/event-stream');
    await afterLimit();
    gateFor('stream-long').open();
    const response = await pending;
    expect(response.status).toBe(201);
    expect(await response.text()).toBe('event: first\ndata: {}\n\nevent: second\ndata: {}\n\n');
  });

  it('buffers the same handler for a JSON client: the whole body, with the prelude’s status', async () => {
    gateFor('buffered-1').open();
    const response = await get('/conversations?run=buffered-1');
    expect(response.status).toBe(201);
    expect(response.headers.get('x-from-prelude')).toBe('yes');
    expect(await response.text()).toBe('event: first\ndata: {}\n\nevent: second\ndata: {}\n\n');
  });

  it('answers 504 upstream_timeout to a buffered request of a streaming handler that outlives the limit', async () => {
    const response = await get('/conversations?run=buffered-slow');
    expect(response.status).toBe(504);
    expect(await response.json()).toEqual({ error: { code: 'upstream_timeout', message: expect.any(String), details: [] } });
    gateFor('buffered-slow').open();
  });

  it('answers 504 upstream_timeout to an ordinary handler that outlives the limit, and still serves it when fast', async () => {
    const slow = await get('/connections?run=plain-slow');
    expect(slow.status).toBe(504);
    expect(await slow.json()).toEqual({ error: { code: 'upstream_timeout', message: expect.any(String), details: [] } });
    gateFor('plain-slow').open();
    gateFor('plain-fast').open();
    const fast = await get('/connections?run=plain-fast');
    expect(fast.status).toBe(200);
    expect(await fast.json()).toEqual({ late: true });
  });

  it.each([
    ['throws before writing', 'throws'],
    ['ends with a body but never writes (no prelude is sent)', 'end-only'],
  ])('answers 500 internal_error in the contract shape when the function %s', async (_name, mode) => {
    for (const accept of ['text/event-stream', 'application/json']) {
      const response = await get(`/conversations?mode=${mode}`, accept);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ error: { code: 'internal_error', message: expect.any(String), details: [] } });
    }
  });

  it('lets the function finish when the client goes away mid-stream', async () => {
    const controller = new AbortController();
    const response = await get('/conversations?run=gone', 'text/event-stream', controller.signal);
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.read().catch(() => undefined);
    gateFor('gone').open();
    await expect.poll(() => finished.get('gone')).toEqual(['first', 'second']);
    // The gateway is still serving.
    gateFor('after-gone').open();
    expect((await get('/conversations?run=after-gone')).status).toBe(201);
  });
});
