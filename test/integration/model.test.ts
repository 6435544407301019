import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type ModelStandIn, startModel } from '../../infra/local/model/server';
import { modelControl } from '../stack/control';
import { startModelWithClient } from '../support/model';

// The Claude stand-in driven by the real @anthropic-ai/sdk over real sockets.

const MODEL = 'claude-sonnet-5-5';

const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Current weather for a city.',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

let model: ModelStandIn;
let client: Anthropic;

beforeAll(async () => {
  ({ model, client } = await startModelWithClient());
});
afterAll(() => model.close());

afterEach(async () => {
  await modelControl(model.url).reset();
});

/** A control route answered as it is, for the tests of its refusals. */
const rawControl = (method: string, path: string, body?: unknown): Promise<Response> =>
  fetch(`${model.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function addScript(match: string, turns: unknown[]): Promise<void> {
  await modelControl(model.url).script(match, turns);
}

function ask(text: string, extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) {
  return client.messages.create({ model: MODEL, max_tokens: 1024, messages: [{ role: 'user', content: text }], ...extra });
}

function textOf(message: Anthropic.Message): string {
  return message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
}

/** The response content as request params, to send it back as the assistant turn. */
function asParams(content: Anthropic.ContentBlock[]): Anthropic.ContentBlockParam[] {
  return content.flatMap((b): Anthropic.ContentBlockParam[] => {
    if (b.type === 'text') return [{ type: 'text', text: b.text }];
    if (b.type === 'tool_use') return [{ type: 'tool_use', id: b.id, name: b.name, input: b.input }];
    return [];
  });
}

describe('POST /v1/messages', () => {
  it('answers with the Messages API shapes, a request-id and JSON', async () => {
    // Act
    const { data, response, request_id } = await ask('Hello there').withResponse();

    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('request-id')).toMatch(/^req_/);
    expect(request_id).toBe(response.headers.get('request-id'));
    expect(data).toMatchObject({ type: 'message', role: 'assistant', model: MODEL, stop_reason: 'end_turn', stop_sequence: null });
    expect(data.id).toMatch(/^msg_/);
    expect(data.content).toEqual([{ type: 'text', text: expect.any(String) }]);
    expect(data.usage.input_tokens).toBeGreaterThan(0);
    expect(data.usage.output_tokens).toBeGreaterThan(0);
    expect(data.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  it('accepts the key as x-api-key or as a bearer token, and rejects a request with neither', async () => {
    // Prepare
    const body = JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
    const bearer = new Anthropic({ baseURL: model.url, apiKey: null, authToken: 'oauth-token', maxRetries: 0 });

    // Act
    const withKey = await fetch(`${model.url}/v1/messages`, { method: 'POST', headers: { ...headers, 'x-api-key': 'k' }, body });
    const withBearer = await bearer.messages.create({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    const without = await fetch(`${model.url}/v1/messages`, { method: 'POST', headers, body });

    // Assess
    expect(withKey.status).toBe(200);
    expect(withBearer.type).toBe('message');
    expect(without.status).toBe(401);
    expect(without.headers.get('request-id')).toMatch(/^req_/);
    expect(await without.json()).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: expect.any(String) },
      request_id: without.headers.get('request-id'),
    });
  });

  it('answers an unknown route with not_found_error', async () => {
    const response = await fetch(`${model.url}/v1/nothing`, { method: 'POST', headers: { 'x-api-key': 'k' } });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });

  it('counts tokens with /v1/messages/count_tokens', async () => {
    const counted = await client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(400) }] });
    expect(counted.input_tokens).toBe(100);
  });

  it('stops at a stop sequence and at max_tokens as the API does', async () => {
    // Act
    const stopped = await ask('Hello there', { stop_sequences: ['Asana'] });
    const truncated = await ask('Hello there', { max_tokens: 3 });

    // Assess
    expect(stopped.stop_reason).toBe('stop_sequence');
    expect(stopped.stop_sequence).toBe('Asana');
    expect(textOf(stopped)).not.toContain('Asana');
    expect(truncated.stop_reason).toBe('max_tokens');
    expect(truncated.usage.output_tokens).toBeLessThanOrEqual(3);
  });
});

describe('scripts', () => {
  it('answers a request whose first user message contains the match with turn 0, filling id, model and usage', async () => {
    // Prepare
    await addScript('weather in Oslo', [{ content: [{ type: 'text', text: 'Scripted hello.' }] }]);

    // Act
    const message = await ask('What is the weather in Oslo today?');

    // Assess
    expect(message.content).toEqual([{ type: 'text', text: 'Scripted hello.' }]);
    expect(message).toMatchObject({ type: 'message', role: 'assistant', model: MODEL, stop_reason: 'end_turn' });
    expect(message.id).toMatch(/^msg_/);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
    expect(message.usage.output_tokens).toBeGreaterThan(0);
  });

  it('matches on the first user message only, and the newest matching script wins', async () => {
    // Prepare
    await addScript('alpha', [{ content: [{ type: 'text', text: 'old alpha script' }] }]);
    await addScript('alpha', [{ content: [{ type: 'text', text: 'new alpha script' }] }]);
    await addScript('beta', [{ content: [{ type: 'text', text: 'beta script' }] }]);

    // Act
    const alpha = await ask('alpha please');
    const laterMention = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [
        { role: 'user', content: 'nothing to see' },
        { role: 'assistant', content: 'ok' },
        { role: 'user', content: 'beta' },
      ],
    });

    // Assess
    expect(textOf(alpha)).toBe('new alpha script');
    expect(textOf(laterMention)).not.toBe('beta script');
  });

  it('picks turn k = the assistant messages in the request (consecutive turns merged), then falls back to the planner', async () => {
    // Prepare
    await addScript('count turns', [{ content: [{ type: 'text', text: 'turn zero' }] }, { content: [{ type: 'text', text: 'turn one' }] }]);
    const history = (assistants: string[][]): Anthropic.MessageParam[] => [
      { role: 'user', content: 'count turns please' },
      ...assistants.flatMap((group): Anthropic.MessageParam[] => [
        ...group.map((text): Anthropic.MessageParam => ({ role: 'assistant', content: text })),
        { role: 'user', content: 'go on' },
      ]),
    ];
    const send = (messages: Anthropic.MessageParam[]) => client.messages.create({ model: MODEL, max_tokens: 256, messages });

    // Act
    const zero = await send(history([]));
    const mergedIntoOne = await send(history([['first half', 'second half']]));
    const two = await send(history([['a'], ['b']]));

    // Assess
    expect(textOf(zero)).toBe('turn zero');
    expect(textOf(mergedIntoOne)).toBe('turn one');
    expect(textOf(two)).not.toMatch(/^turn /);
    expect(textOf(two)).toContain('I can help with your Asana work');
  });

  it('keeps a scripted tool_use id, fills a missing one and sets stop_reason tool_use', async () => {
    // Prepare
    await addScript('two tools', [
      {
        content: [
          { type: 'tool_use', id: 'toolu_fixed_1', name: 'get_weather', input: { city: 'Oslo' } },
          { type: 'tool_use', name: 'get_weather', input: { city: 'Bergen' } },
        ],
      },
    ]);

    // Act
    const message = await ask('two tools please', { tools: [weatherTool] });

    // Assess
    expect(message.stop_reason).toBe('tool_use');
    const [fixed, filled] = message.content;
    expect(fixed).toMatchObject({ type: 'tool_use', id: 'toolu_fixed_1', input: { city: 'Oslo' } });
    expect(filled).toMatchObject({ type: 'tool_use', id: expect.stringMatching(/^toolu_/), input: { city: 'Bergen' } });
  });

  it.each([
    { status: 529, errorType: 'overloaded_error', errorClass: Anthropic.OverloadedError },
    { status: 500, errorType: 'api_error', errorClass: Anthropic.InternalServerError },
    { status: 429, errorType: 'rate_limit_error', errorClass: Anthropic.RateLimitError },
    { status: 503, errorType: 'api_error', errorClass: Anthropic.ServiceUnavailableError },
  ])('injects an HTTP $status that the SDK surfaces as its error class', async ({ status, errorType, errorClass }) => {
    // Prepare
    await addScript('inject', [{ status, body: { type: 'error', error: { type: errorType, message: 'Injected' } } }]);

    // Act
    const error = await ask('inject an error').then(
      () => undefined,
      (e: unknown) => e,
    );

    // Assess
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error).toBeInstanceOf(errorClass);
    const apiError = error as InstanceType<typeof Anthropic.APIError>;
    expect(apiError.status).toBe(status);
    expect(apiError.error).toMatchObject({ type: 'error', error: { type: errorType, message: 'Injected' } });
    expect(apiError.requestID).toMatch(/^req_/);
  });

  it('injects an error on a later turn and on a streamed request', async () => {
    // Prepare
    await addScript('later failure', [
      { content: [{ type: 'text', text: 'fine' }] },
      { status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } },
    ]);
    const messages: Anthropic.MessageParam[] = [
      { role: 'user', content: 'later failure' },
      { role: 'assistant', content: 'fine' },
      { role: 'user', content: 'again' },
    ];

    // Act
    const first = await ask('later failure');
    const streamed = client.messages.stream({ model: MODEL, max_tokens: 64, messages }).finalMessage();

    // Assess
    expect(textOf(first)).toBe('fine');
    await expect(streamed).rejects.toBeInstanceOf(Anthropic.OverloadedError);
  });

  it('rejects a malformed script and can be cleared', async () => {
    // Act
    const bad = await rawControl('POST', '/_control/scripts', { match: 'x', turns: [{ nothing: true }] });
    await addScript('cleared', [{ content: [{ type: 'text', text: 'scripted' }] }]);
    const cleared = await modelControl(model.url).clearScripts();
    const after = await ask('cleared');

    // Assess
    expect(bad.status).toBe(400);
    expect(cleared.removed).toBeGreaterThan(0);
    expect(textOf(after)).not.toBe('scripted');
  });
});

describe('latency', () => {
  it('delays each model response by the configured time', async () => {
    // Prepare
    await modelControl(model.url).setLatency(300);

    // Act
    const started = performance.now();
    await ask('slow please');
    const elapsed = performance.now() - started;

    // Assess
    expect(elapsed).toBeGreaterThanOrEqual(250);
  });

  it('rejects a negative latency', async () => {
    const response = await rawControl('POST', '/_control/latency', { ms: -1 });
    expect(response.status).toBe(400);
  });
});

describe('a tool loop through the SDK', () => {
  it('goes tool_use → tool_result → end_turn', async () => {
    // Prepare
    await addScript('weather loop', [
      {
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', name: 'get_weather', input: { city: 'Oslo' } },
        ],
      },
      { content: [{ type: 'text', text: 'It is sunny in Oslo.' }] },
    ]);
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'weather loop for Oslo' }];

    // Act
    const first = await client.messages.create({ model: MODEL, max_tokens: 256, tools: [weatherTool], messages });
    const toolUse = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    if (!toolUse) throw new Error('no tool_use');
    messages.push({ role: 'assistant', content: asParams(first.content) });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '{"sky":"sunny"}' }] });
    const second = await client.messages.create({ model: MODEL, max_tokens: 256, tools: [weatherTool], messages });

    // Assess
    expect(first.stop_reason).toBe('tool_use');
    expect(toolUse.input).toEqual({ city: 'Oslo' });
    expect(second.stop_reason).toBe('end_turn');
    expect(textOf(second)).toBe('It is sunny in Oslo.');
  });

  it('streams the same message that the non-streaming call returns', async () => {
    // Prepare
    await addScript('stream me', [
      {
        content: [
          { type: 'text', text: 'Let me look that up for you — one moment… ✓' },
          { type: 'tool_use', id: 'toolu_stream_1', name: 'get_weather', input: { city: 'Tromsø', days: [1, 2, 3] } },
          { type: 'tool_use', id: 'toolu_stream_2', name: 'get_weather', input: {} },
        ],
      },
    ]);
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL,
      max_tokens: 256,
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'stream me the weather' }],
    };

    // Act
    const plain = await client.messages.create(params);
    const streamed = await client.messages.stream(params).finalMessage();
    const events: string[] = [];
    for await (const event of await client.messages.create({ ...params, stream: true })) events.push(event.type);

    // Assess
    expect(streamed.content).toEqual(plain.content);
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.usage).toEqual(plain.usage);
    expect(streamed.model).toBe(plain.model);
    expect(events[0]).toBe('message_start');
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(events.filter((e) => e === 'content_block_start')).toHaveLength(3);
    expect(events.filter((e) => e === 'content_block_stop')).toHaveLength(3);
  });

  it('streams a planner answer identical to the non-streaming one', async () => {
    // Prepare
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL,
      max_tokens: 512,
      messages: [{ role: 'user', content: 'Something the planner does not know' }],
    };

    // Act
    const plain = await client.messages.create(params);
    const stream = client.messages.stream(params);
    let streamedText = '';
    stream.on('text', (delta) => {
      streamedText += delta;
    });
    const streamed = await stream.finalMessage();

    // Assess
    expect(streamed.content).toEqual(plain.content);
    expect(streamed.stop_reason).toBe('end_turn');
    expect(streamedText).toBe(textOf(plain));
  });
});

describe('prompt caching', () => {
  const system: Anthropic.TextBlockParam[] = [
    { type: 'text', text: 'You act in Asana for the user. '.repeat(40), cache_control: { type: 'ephemeral' } },
  ];
  const tools: Anthropic.Tool[] = [{ ...weatherTool, cache_control: { type: 'ephemeral' } }];
  const total = (u: Anthropic.Usage) => u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);

  it('writes the prefix at each breakpoint, then reads it on the next request', async () => {
    // Prepare
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL,
      max_tokens: 256,
      system,
      tools,
      messages: [{ role: 'user', content: 'caching one' }],
    };

    // Act
    const first = await client.messages.create(params);
    const second = await client.messages.create(params);

    // Assess
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(total(second.usage)).toBe(total(first.usage));
  });

  it('reads a growing conversation from the previous breakpoint and writes only the new part', async () => {
    // Prepare
    const turn1: Anthropic.MessageParam[] = [
      { role: 'user', content: [{ type: 'text', text: 'caching conversation, turn one', cache_control: { type: 'ephemeral' } }] },
    ];
    const turn2: Anthropic.MessageParam[] = [
      { role: 'user', content: [{ type: 'text', text: 'caching conversation, turn one' }] },
      { role: 'assistant', content: 'An answer.' },
      { role: 'user', content: [{ type: 'text', text: 'and turn two', cache_control: { type: 'ephemeral' } }] },
    ];

    // Act
    const first = await client.messages.create({ model: MODEL, max_tokens: 256, system, messages: turn1 });
    const second = await client.messages.create({ model: MODEL, max_tokens: 256, system, messages: turn2 });

    // Assess
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(second.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(second.usage.cache_creation_input_tokens).toBeLessThan(first.usage.cache_creation_input_tokens ?? 0);
  });

  it('keeps caches apart per API key and forgets a changed prefix', async () => {
    // Prepare
    const other = new Anthropic({ baseURL: model.url, apiKey: 'another-key', maxRetries: 0 });
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL,
      max_tokens: 256,
      system,
      messages: [{ role: 'user', content: 'caching per key' }],
    };
    await client.messages.create(params);

    // Act
    const otherKey = await other.messages.create(params);
    const changed = await client.messages.create({ ...params, system: [{ ...system[0]!, text: 'Different system prompt.' }] });

    // Assess
    expect(otherKey.usage.cache_read_input_tokens).toBe(0);
    expect(otherKey.usage.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(changed.usage.cache_read_input_tokens).toBe(0);
  });

  it('applies the top-level cache_control to the last block', async () => {
    // Prepare
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL,
      max_tokens: 256,
      cache_control: { type: 'ephemeral', ttl: '1h' },
      messages: [{ role: 'user', content: 'automatic caching of this message' }],
    };

    // Act
    const first = await client.messages.create(params);
    const second = await client.messages.create(params);

    // Assess
    expect(first.usage.cache_creation?.ephemeral_1h_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(second.usage.input_tokens).toBe(0);
  });

  it('reports the cache usage in message_start when streaming', async () => {
    // Prepare
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL,
      max_tokens: 256,
      system,
      messages: [{ role: 'user', content: 'caching streamed' }],
    };
    const plain = await client.messages.create(params);

    // Act
    const streamed = await client.messages.stream(params).finalMessage();

    // Assess
    expect(streamed.usage.cache_read_input_tokens).toBe(plain.usage.cache_creation_input_tokens);
  });
});

describe('persistence', () => {
  it('keeps scripts and latency in the state file across a restart', async () => {
    // Prepare
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'model-state-'));
    const stateFile = join(dir, 'model.json');
    const firstRun = await startModel({ stateFile });
    await modelControl(firstRun.url).script('persisted', [{ content: [{ type: 'text', text: 'from disk' }] }]);
    await modelControl(firstRun.url).setLatency(5);
    await firstRun.close();

    // Act
    const secondRun = await startModel({ stateFile });
    try {
      const sdk = new Anthropic({ baseURL: secondRun.url, apiKey: 'test', maxRetries: 0 });
      const message = await sdk.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'persisted?' }] });
      const latency = await modelControl(secondRun.url).latency();

      // Assess
      expect(textOf(message)).toBe('from disk');
      expect(latency).toBe(5);
    } finally {
      await secondRun.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
