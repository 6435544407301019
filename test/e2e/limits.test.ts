import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalService } from '../../infra/local/service';
import { api, login } from '../support/auth';
import { chatGateway } from '../support/chat-gateway';
import { connected } from '../support/connect';
import { marker, script } from '../support/standins';

/**
 * The per-user limits of "Usage and limits", through a chat function of the test's own with
 * low limits (the suite's stack raises them for every other test), on the suite's table.
 */
const RATE_LIMITED = 'tyson';
const QUOTA_USER = 'trudy';
const CROSSING_USER = 'trixie';
const PER_MINUTE = 5;
const DAILY_TOKENS = 2_000;

let rated: LocalService;
let quota: LocalService;

beforeAll(async () => {
  rated = await chatGateway({ limits: { requestsPerMinute: PER_MINUTE } });
  quota = await chatGateway({ limits: { dailyTokens: DAILY_TOKENS } });
});
afterAll(async () => {
  await rated?.close();
  await quota?.close();
});

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Counters are per UTC minute: start a burst with enough of the minute left that it cannot straddle two. */
async function startOfABurst(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 15_000) await sleep(left + 200);
}

describe('per-user request rate', () => {
  it('answers 429 rate_limited with Retry-After to a user over the per-minute limit, while another user passes', async () => {
    // Prepare
    const limited = (await login(RATE_LIMITED)).accessToken;
    const other = (await login(QUOTA_USER)).accessToken;
    await startOfABurst();
    // Act
    const allowed = [];
    for (let i = 0; i < PER_MINUTE; i++) allowed.push(await api('GET', '/conversations', { token: limited, apiUrl: rated.url }));
    const refused = await api('GET', '/conversations', { token: limited, apiUrl: rated.url });
    const usageRefused = await api('GET', '/usage', { token: limited, apiUrl: rated.url });
    const otherUser = await api('GET', '/conversations', { token: other, apiUrl: rated.url });
    // Assess
    expect(allowed.map((response) => response.status)).toEqual(Array(PER_MINUTE).fill(200));
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('per minute'), details: [] } });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(usageRefused.status).toBe(429);
    expect(otherUser.status).toBe(200);
  }, 120_000);
});

describe('daily token quota', () => {
  it('refuses a new run with 429 quota_exceeded once the quota is used, and GET /usage shows the counts behind it', async () => {
    // Prepare: one run whose single model call uses more than the whole quota.
    const token = await connected(QUOTA_USER);
    const tag = marker('quota');
    await script(tag, [
      {
        content: [{ type: 'text', text: 'Here is a long answer.' }],
        stop_reason: 'end_turn',
        usage: { input_tokens: 1_500, output_tokens: 600, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    ]);
    const before = await api('GET', '/usage', { token, apiUrl: quota.url });
    // Act
    const first = await api('POST', '/conversations', { token, apiUrl: quota.url, body: { message: `${tag} tell me a story` } });
    const second = await api('POST', '/conversations', { token, apiUrl: quota.url, body: { message: `${tag} another one` } });
    const resumed = await api('POST', `/conversations/${first.body.conversationId}/messages`, {
      token,
      apiUrl: quota.url,
      body: { message: `${tag} and more` },
    });
    const read = await api('GET', `/conversations/${first.body.conversationId}`, { token, apiUrl: quota.url });
    const usage = await api('GET', '/usage', { token, apiUrl: quota.url });
    // Assess
    expect(before.status).toBe(200);
    expect(before.body.tokens).toEqual({ inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('completed');
    for (const refused of [second, resumed]) {
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('quota_exceeded');
      const retryAfter = Number(refused.headers.get('retry-after'));
      const toMidnight = Math.ceil((Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000 - Date.now()) / 1000);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(Math.abs(retryAfter - toMidnight)).toBeLessThanOrEqual(60);
    }
    // Reading is no run: it still passes.
    expect(read.status).toBe(200);
    expect(usage.status).toBe(200);
    expect(usage.body).toEqual({
      day: new Date().toISOString().slice(0, 10),
      requests: expect.any(Number),
      tokens: { inputTokens: 1_500, outputTokens: 600, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
      limits: { requestsPerMinute: expect.any(Number), dailyTokens: DAILY_TOKENS },
    });
    // Every request since `before` counted, this one included (refused runs passed the rate check).
    expect(usage.body.requests - before.body.requests).toBe(5);
  }, 120_000);

  it('stops a run that crosses the quota mid-way as in_progress, after the tools Claude asked for; resume is then refused', async () => {
    // Prepare: the first model call asks for a read and uses more than the whole quota.
    const token = await connected(CROSSING_USER);
    const tag = marker('crossing');
    await script(tag, [
      {
        content: [{ type: 'tool_use', id: 'toolu_crossing1', name: 'asana_me_get', input: {} }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 2_500, output_tokens: 100, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
      { content: [{ type: 'text', text: 'Never asked for.' }], stop_reason: 'end_turn' },
    ]);
    // Act
    const run = await api('POST', '/conversations', { token, apiUrl: quota.url, body: { message: `${tag} who am I?` } });
    const resumed = await api('POST', `/conversations/${run.body.conversationId}/resume`, { token, apiUrl: quota.url });
    const stored = await api('GET', `/conversations/${run.body.conversationId}`, { token, apiUrl: quota.url });
    // Assess
    expect(run.status).toBe(201);
    expect(run.body.status).toBe('in_progress');
    expect(run.body.toolCalls).toEqual([expect.objectContaining({ name: 'asana_me_get', outcome: 'succeeded' })]);
    expect(resumed.status).toBe(429);
    expect(resumed.body.error.code).toBe('quota_exceeded');
    expect(stored.body.status).toBe('in_progress');
    expect(stored.body.messages.map((message: { role: string }) => message.role)).toEqual(['user', 'assistant', 'user']);
  }, 120_000);
});
