import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ModelStandIn } from '../../infra/local/model/server';
import { modelControl } from '../stack/control';
import { startModelWithClient } from '../support/model';

// What the real Messages API refuses, the stand-in refuses the same way: 400 invalid_request_error.

const MODEL = 'claude-sonnet-5-5';

let model: ModelStandIn;
let client: Anthropic;

beforeAll(async () => {
  ({ model, client } = await startModelWithClient());
});
afterAll(() => model.close());

const tool = (name: string, schema: { type: string; [key: string]: unknown } = { type: 'object', properties: {} }) => ({
  name,
  description: 'A tool.',
  input_schema: schema,
});

const valid = {
  model: MODEL,
  max_tokens: 256,
  messages: [{ role: 'user', content: 'Hello' }],
};

const toolUse = (id: string) => ({ type: 'tool_use', id, name: 'lookup', input: { q: 'x' } });
const toolResult = (id: string) => ({ type: 'tool_result', tool_use_id: id, content: 'ok' });
const cached = (text: string) => ({ type: 'text', text, cache_control: { type: 'ephemeral' } });

/** Sends any body through the real SDK (the casts let us send what its types would refuse). */
async function rejection(body: Record<string, unknown>): Promise<unknown> {
  return client.messages.create(body as unknown as Anthropic.MessageCreateParamsNonStreaming).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('request validation', () => {
  it.each([
    { case: 'a missing max_tokens', body: { model: MODEL, messages: valid.messages }, message: /max_tokens: Field required/ },
    { case: 'a non-integer max_tokens', body: { ...valid, max_tokens: 1.5 }, message: /max_tokens/ },
    { case: 'a missing model', body: { max_tokens: 16, messages: valid.messages }, message: /model: Field required/ },
    { case: 'an empty model', body: { ...valid, model: '' }, message: /model/ },
    { case: 'no messages', body: { ...valid, messages: [] }, message: /at least one message/ },
    {
      case: 'a conversation opening with the assistant',
      body: { ...valid, messages: [{ role: 'assistant', content: 'Hi' }] },
      message: /first message/,
    },
    { case: 'an unknown role', body: { ...valid, messages: [{ role: 'tool', content: 'Hi' }] }, message: /role/ },
    { case: 'an unknown top-level field', body: { ...valid, betas: ['x'] }, message: /betas: Extra inputs are not permitted/ },
    {
      case: 'an empty text block',
      body: { ...valid, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] },
      message: /text content blocks must be non-empty/,
    },
    {
      case: 'a whitespace-only text block',
      body: { ...valid, messages: [{ role: 'user', content: [{ type: 'text', text: '  \n' }] }] },
      message: /non-whitespace text/,
    },
    {
      case: 'empty string content',
      body: { ...valid, messages: [{ role: 'user', content: '' }] },
      message: /must have non-empty content/,
    },
    {
      case: 'an empty content list',
      body: { ...valid, messages: [{ role: 'user', content: [] }] },
      message: /must have non-empty content/,
    },
    {
      case: 'an empty text block in the system prompt',
      body: { ...valid, system: [{ type: 'text', text: '' }] },
      message: /system: text content blocks must be non-empty/,
    },
    {
      case: 'an unknown field on a text block',
      body: { ...valid, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', id: 'x' }] }] },
      message: /Extra inputs are not permitted/,
    },
    {
      case: 'a tool_use not answered in the next user message',
      body: {
        ...valid,
        tools: [tool('lookup')],
        messages: [
          { role: 'user', content: 'look it up' },
          { role: 'assistant', content: [toolUse('toolu_a'), toolUse('toolu_b')] },
          { role: 'user', content: [toolResult('toolu_a')] },
        ],
      },
      message: /`tool_use` ids were found without `tool_result` blocks immediately after: toolu_b/,
    },
    {
      case: 'a tool_use answered by plain text',
      body: {
        ...valid,
        tools: [tool('lookup')],
        messages: [
          { role: 'user', content: 'look it up' },
          { role: 'assistant', content: [toolUse('toolu_a')] },
          { role: 'user', content: 'here you go' },
        ],
      },
      message: /without `tool_result` blocks immediately after: toolu_a/,
    },
    {
      case: 'text placed before the tool_result',
      body: {
        ...valid,
        tools: [tool('lookup')],
        messages: [
          { role: 'user', content: 'look it up' },
          { role: 'assistant', content: [toolUse('toolu_a')] },
          { role: 'user', content: [{ type: 'text', text: 'result:' }, toolResult('toolu_a')] },
        ],
      },
      message: /without `tool_result` blocks immediately after/,
    },
    {
      case: 'a tool_result without its tool_use',
      body: {
        ...valid,
        tools: [tool('lookup')],
        messages: [
          { role: 'user', content: 'look it up' },
          { role: 'assistant', content: 'Sure.' },
          { role: 'user', content: [toolResult('toolu_nowhere')] },
        ],
      },
      message: /unexpected `tool_use_id` found in `tool_result` blocks: toolu_nowhere/,
    },
    {
      case: 'a tool_result answering a tool_use two turns back',
      body: {
        ...valid,
        tools: [tool('lookup')],
        messages: [
          { role: 'user', content: 'look it up' },
          { role: 'assistant', content: [toolUse('toolu_a')] },
          { role: 'user', content: [toolResult('toolu_a')] },
          { role: 'assistant', content: 'Done.' },
          { role: 'user', content: [toolResult('toolu_a')] },
        ],
      },
      message: /unexpected `tool_use_id`/,
    },
    {
      case: 'tool blocks without tool definitions',
      body: {
        ...valid,
        messages: [
          { role: 'user', content: 'look it up' },
          { role: 'assistant', content: [toolUse('toolu_a')] },
          { role: 'user', content: [toolResult('toolu_a')] },
        ],
      },
      message: /must define tools/,
    },
    {
      case: 'a tool_use in a user message',
      body: { ...valid, tools: [tool('lookup')], messages: [{ role: 'user', content: [toolUse('toolu_a')] }] },
      message: /tool_use/,
    },
    {
      case: 'more than 4 cache_control breakpoints',
      body: {
        ...valid,
        system: [cached('one'), cached('two'), cached('three')],
        messages: [{ role: 'user', content: [cached('four'), cached('five')] }],
      },
      message: /A maximum of 4 blocks with cache_control may be provided. Found 5./,
    },
    {
      case: 'an invalid cache_control type',
      body: { ...valid, system: [{ type: 'text', text: 'x', cache_control: { type: 'forever' } }] },
      message: /cache_control/,
    },
    {
      case: 'a tool name with a space',
      body: { ...valid, tools: [tool('look up')] },
      message: /name: String should match pattern/,
    },
    {
      case: 'a tool name longer than 64 characters',
      body: { ...valid, tools: [tool('t'.repeat(65))] },
      message: /name: String should match pattern/,
    },
    {
      case: 'duplicate tool names',
      body: { ...valid, tools: [tool('lookup'), tool('lookup')] },
      message: /Tool names must be unique/,
    },
    {
      case: 'an input_schema that is not an object schema',
      body: { ...valid, tools: [tool('lookup', { type: 'string' })] },
      message: /input_schema.type: Input should be 'object'/,
    },
    {
      case: 'a tool without input_schema',
      body: { ...valid, tools: [{ name: 'lookup' }] },
      message: /input_schema: Field required/,
    },
    {
      case: 'tool_choice naming a tool that is not offered',
      body: { ...valid, tools: [tool('lookup')], tool_choice: { type: 'tool', name: 'other' } },
      message: /tool_choice/,
    },
    {
      case: 'a final assistant message ending in whitespace',
      body: {
        ...valid,
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Well, ' },
        ],
      },
      message: /trailing whitespace/,
    },
  ])('rejects $case with the API error shape', async ({ body, message }) => {
    // Act
    const error = await rejection(body);

    // Assess
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    const apiError = error as InstanceType<typeof Anthropic.BadRequestError>;
    expect(apiError.status).toBe(400);
    expect(apiError.error).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: expect.stringMatching(message) },
      request_id: expect.stringMatching(/^req_/),
    });
    expect(apiError.requestID).toBe((apiError.error as { request_id: string }).request_id);
  });

  it('accepts what the API accepts: merged same-role turns, answered tools, text after results, 4 breakpoints', async () => {
    // Act
    const message = await client.messages.create({
      model: MODEL,
      max_tokens: 256,
      tools: [
        {
          name: 'lookup',
          input_schema: { type: 'object', properties: {} },
          cache_control: { type: 'ephemeral' },
        },
      ],
      system: [{ type: 'text', text: 'system', cache_control: { type: 'ephemeral' } }],
      messages: [
        { role: 'user', content: 'look it up' },
        { role: 'user', content: [{ type: 'text', text: 'please', cache_control: { type: 'ephemeral' } }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Looking.' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_a', name: 'lookup', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_a', content: [{ type: 'text', text: 'found' }] }] },
        { role: 'user', content: [{ type: 'text', text: 'thanks', cache_control: { type: 'ephemeral' } }] },
      ],
    });

    // Assess
    expect(message.type).toBe('message');
  });

  it('accepts an empty final assistant message (prefill) and max_tokens 0 (cache pre-warming)', async () => {
    // Act
    const prefill = await client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: '' },
      ],
    });
    const prewarm = await client.messages.create({ model: MODEL, max_tokens: 0, messages: [{ role: 'user', content: 'Hi' }] });

    // Assess
    expect(prefill.type).toBe('message');
    expect(prewarm.content).toEqual([]);
    expect(prewarm.stop_reason).toBe('max_tokens');
    expect(prewarm.usage.output_tokens).toBe(0);
  });

  it('rejects a body that is not JSON', async () => {
    const response = await fetch(`${model.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: '{"model": ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });

  it('requires the anthropic-version header', async () => {
    const response = await fetch(`${model.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'k', 'content-type': 'application/json' },
      body: JSON.stringify(valid),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', message: /anthropic-version/ } });
  });
});

describe("a script's context window", () => {
  it('refuses a request over it as a prompt that is too long, answers one within it, and takes only a positive integer', async () => {
    // Prepare: a conversation held to 200 input tokens
    const control = modelControl(model.url);
    await control.script('[window-check]', [{ role: 'assistant', type: 'message', content: [{ type: 'text', text: 'Fits.' }] }], {
      contextWindowTokens: 200,
    });
    const asking = (text: string) => ({ ...valid, messages: [{ role: 'user', content: `[window-check] ${text}` }] });

    // Act
    const tooLong = await rejection(asking('long '.repeat(2_000)));
    const fits = await client.messages.create(asking('short') as Anthropic.MessageCreateParamsNonStreaming);
    const badWindow = await fetch(`${model.url}/_control/scripts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ match: 'x', turns: [], contextWindowTokens: 0 }),
    });

    // Assess
    expect(tooLong).toBeInstanceOf(Anthropic.BadRequestError);
    expect((tooLong as InstanceType<typeof Anthropic.BadRequestError>).message).toMatch(/prompt is too long: \d+ tokens > 200 maximum/);
    expect(fits.content).toEqual([{ type: 'text', text: 'Fits.' }]);
    expect(badWindow.status).toBe(400);
  });
});
