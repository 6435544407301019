import type Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModelStandIn } from '../../infra/local/model/server';
import { modelControl } from '../stack/control';
import { startModelWithClient } from '../support/model';

/**
 * The Claude stand-in's latency as a real model shows it (`docs/api.md`, "Test-only control surface"):
 * a streamed answer sends `message_start` at once and spreads the rest over the latency, and a
 * request whose client goes away is answered no further. Driven by the real SDK; order and
 * status only, never elapsed time.
 */

const MODEL = 'claude-sonnet-4-6';
const LONG_TEXT = 'Here is a long answer that the stand-in sends in many small deltas, one after another.';

let model: ModelStandIn;
let client: Anthropic;
beforeAll(async () => {
  ({ model, client } = await startModelWithClient());
});
afterAll(() => model.close());
afterEach(async () => {
  await control().reset();
});

const control = () => modelControl(model.url);
const requests = () => control().requests();
const script = (match: string) => control().script(match, [{ content: [{ type: 'text', text: LONG_TEXT }] }]);

const params = (text: string) => ({ model: MODEL, max_tokens: 1024, messages: [{ role: 'user' as const, content: text }] });

describe('the Claude stand-in under latency', () => {
  it('streams message_start at once and the deltas over the latency, while the request is still open', async () => {
    // Prepare
    await script('spread me');
    await control().setLatency(1500);
    // Act
    const stream = await client.messages.create({ ...params('spread me'), stream: true });
    const events: string[] = [];
    let text = '';
    let openAfterStart: string | undefined;
    for await (const event of stream) {
      events.push(event.type);
      if (event.type === 'message_start') openAfterStart = (await requests()).at(-1)?.outcome;
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    // Assess: the first event came while the stand-in was still answering.
    expect(events[0]).toBe('message_start');
    expect(openAfterStart).toBe('pending');
    expect(events.filter((type) => type === 'content_block_delta').length).toBeGreaterThan(2);
    expect(events.at(-1)).toBe('message_stop');
    expect(text).toBe(LONG_TEXT);
    expect((await requests()).at(-1)).toMatchObject({ stream: true, outcome: 'answered' });
  });

  it('stops a streamed answer when the client aborts after message_start', async () => {
    // Prepare
    await script('abort me');
    await control().setLatency(20_000);
    const controller = new AbortController();
    // Act
    const stream = await client.messages.create({ ...params('abort me'), stream: true }, { signal: controller.signal });
    const seen: string[] = [];
    // The SDK ends the iteration quietly when its signal aborts.
    try {
      for await (const event of stream) {
        seen.push(event.type);
        if (event.type === 'message_start') controller.abort();
      }
    } catch {
      // or it throws an abort error, depending on where the abort lands
    }
    // Assess
    expect(seen).toEqual(['message_start']);
    await expect.poll(async () => (await requests()).at(-1)?.outcome).toBe('aborted');
  });

  it('answers a JSON request after the latency, and not at all once its client has gone', async () => {
    // Prepare
    await script('json please');
    await control().setLatency(20_000);
    const controller = new AbortController();
    // Act
    const pending = client.messages.create(params('json please'), { signal: controller.signal });
    await expect.poll(async () => (await requests()).at(-1)?.outcome).toBe('pending');
    controller.abort();
    // Assess
    await expect(pending).rejects.toThrow();
    await expect.poll(async () => (await requests()).at(-1)?.outcome).toBe('aborted');

    await control().setLatency(0);
    const answered = await client.messages.create(params('json please'));
    expect(answered.content).toEqual([{ type: 'text', text: LONG_TEXT }]);
    expect((await requests()).at(-1)).toMatchObject({ stream: false, outcome: 'answered' });
  });
});
