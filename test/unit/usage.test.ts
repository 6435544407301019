import { describe, expect, it } from 'vitest';
import {
  admitRequest,
  admitRun,
  LimitError,
  DailyTokens,
  NO_TOKENS,
  type TokenCounts,
  type UsageDeps,
  type UsageStore,
  usageReport,
} from '../../functions/core/usage';

/** In-memory {@link UsageStore}, with the DynamoDB adapter's conditional increment. */
class MemoryUsageStore implements UsageStore {
  readonly rate = new Map<string, { requests: number; expiresAt: number }>();
  readonly days = new Map<string, TokenCounts>();
  writes = 0;

  async countRequest(sub: string, minute: string, limit: number, expiresAt: number): Promise<boolean> {
    this.writes++;
    const key = `${sub}|${minute}`;
    const current = this.rate.get(key);
    if (current && current.requests >= limit) return false;
    this.rate.set(key, { requests: (current?.requests ?? 0) + 1, expiresAt: current?.expiresAt ?? expiresAt });
    return true;
  }

  async addTokens(sub: string, day: string, tokens: TokenCounts): Promise<void> {
    const key = `${sub}|${day}`;
    const current = this.days.get(key) ?? NO_TOKENS;
    this.days.set(key, {
      inputTokens: current.inputTokens + tokens.inputTokens,
      outputTokens: current.outputTokens + tokens.outputTokens,
      cacheCreationInputTokens: current.cacheCreationInputTokens + tokens.cacheCreationInputTokens,
      cacheReadInputTokens: current.cacheReadInputTokens + tokens.cacheReadInputTokens,
    });
  }

  async readTokens(sub: string, day: string): Promise<TokenCounts> {
    return this.days.get(`${sub}|${day}`) ?? NO_TOKENS;
  }

  async readDay(sub: string, day: string) {
    let requests = 0;
    for (const [key, value] of this.rate) if (key.startsWith(`${sub}|${day}T`)) requests += value.requests;
    return { requests, tokens: await this.readTokens(sub, day) };
  }
}

const NOON = Date.parse('2026-11-30T12:00:15.000Z');

function depsAt(now: number, limits = { requestsPerMinute: 3, dailyTokens: 1_000 }) {
  const usage = new MemoryUsageStore();
  const clock = { now: () => now };
  const deps: UsageDeps & { clock: typeof clock } = { usage, clock, limits };
  return { deps, usage, clock };
}

async function refusal(run: () => Promise<unknown>): Promise<LimitError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(LimitError);
    return error as LimitError;
  }
  throw new Error('expected a LimitError');
}

describe('per-user request rate', () => {
  it('admits up to the limit in one minute with one write each, then refuses with the seconds to the next minute', async () => {
    // Prepare
    const { deps, usage } = depsAt(NOON);
    // Act
    for (let i = 0; i < 3; i++) await admitRequest(deps, 'alice');
    const error = await refusal(() => admitRequest(deps, 'alice'));
    // Assess
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfterSeconds).toBe(45);
    expect(usage.writes).toBe(4);
    expect(usage.rate.get('alice|2026-11-30T12:00')).toEqual({
      requests: 3,
      expiresAt: Date.parse('2026-12-02T00:00:00Z') / 1000,
    });
  });

  it('never lets one user’s requests limit another’s, and starts afresh in the next minute', async () => {
    // Prepare
    const { deps, clock } = depsAt(NOON);
    for (let i = 0; i < 3; i++) await admitRequest(deps, 'alice');
    // Act / Assess
    await expect(admitRequest(deps, 'bob')).resolves.toBeUndefined();
    clock.now = () => NOON + 60_000;
    await expect(admitRequest(deps, 'alice')).resolves.toBeUndefined();
  });
});

describe('daily token quota', () => {
  it('counts input, output and cache-creation tokens, not cache reads; refuses a run once used, until UTC midnight', async () => {
    // Prepare
    const { deps, usage } = depsAt(NOON);
    await usage.addTokens('alice', '2026-11-30', {
      inputTokens: 400,
      outputTokens: 300,
      cacheCreationInputTokens: 299,
      cacheReadInputTokens: 5_000,
    });
    // Act / Assess: 999 < 1000, and the run learns how much is used
    await expect(admitRun(deps, 'alice')).resolves.toBe(999);
    await usage.addTokens('alice', '2026-11-30', { ...NO_TOKENS, outputTokens: 1 });
    const error = await refusal(() => admitRun(deps, 'alice'));
    expect(error.code).toBe('quota_exceeded');
    expect(error.retryAfterSeconds).toBe(12 * 3600 - 15);
    await expect(admitRun(deps, 'bob')).resolves.toBe(0);
  });

  it('counts each model call of a run against the quota, as a charge on the caller’s day', async () => {
    // Prepare
    const { deps, usage } = depsAt(NOON);
    const tokens = { inputTokens: 10, outputTokens: 20, cacheCreationInputTokens: 30, cacheReadInputTokens: 40 };
    const quota = new DailyTokens({ ...deps, limits: { ...deps.limits, dailyTokens: 100 } }, 'alice', 30);
    // Act
    const first = quota.charge(tokens);
    const usedUpAfterFirst = quota.usedUp();
    const second = quota.charge(tokens);
    await quota.record(second);
    // Assess: 30 before + 60 + 60 (cache reads not counted); the charge names the day and keeps it a week
    expect(first).toEqual({ day: '2026-11-30', tokens, expiresAt: Date.parse('2026-12-08T00:00:00Z') / 1000 });
    expect(usedUpAfterFirst).toBe(false);
    expect(quota.usedUp()).toBe(true);
    expect(await usage.readTokens('alice', '2026-11-30')).toEqual(tokens);
  });
});

describe('GET /usage', () => {
  it('reports the caller’s own day: requests over every minute, tokens and the limits', async () => {
    // Prepare
    const { deps, clock } = depsAt(NOON);
    await admitRequest(deps, 'alice');
    clock.now = () => NOON + 3_600_000;
    await admitRequest(deps, 'alice');
    await admitRequest(deps, 'bob');
    await deps.usage.addTokens('alice', '2026-11-30', { ...NO_TOKENS, inputTokens: 7 }, 0);
    // Act
    const report = await usageReport(deps, 'alice');
    // Assess
    expect(report).toEqual({
      day: '2026-11-30',
      requests: 2,
      tokens: { inputTokens: 7, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
      limits: { requestsPerMinute: 3, dailyTokens: 1_000 },
    });
  });
});
