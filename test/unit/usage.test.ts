import { describe, expect, it } from 'vitest';
import { admitRequest, admitRun, DailyTokens, LimitError, NO_TOKENS, type UsageDeps, usageReport } from '../../functions/core/usage';
import { FakeUsageStore } from '../fakes';

const NOON = Date.parse('2026-11-30T12:00:15.000Z');

function depsAt(now: number, limits = { requestsPerMinute: 3, dailyTokens: 1_000 }) {
  const usage = new FakeUsageStore();
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
    expect(usage.calls).toEqual(Array(4).fill('countRequest'));
    const day = usage.storedDay('alice', '2026-11-30');
    expect(day?.minutes).toEqual(new Map([['2026-11-30T12:00', 3]]));
    // The day's item outlives the day by a week.
    expect(day?.ttl).toBe(Date.parse('2026-12-08T00:00:00Z') / 1000);
  });

  it('never lets one user’s requests limit another’s, and starts afresh in the next minute', async () => {
    // Prepare
    const { deps, clock } = depsAt(NOON);
    for (let i = 0; i < 3; i++) await admitRequest(deps, 'alice');
    // Act / Assess
    await expect(admitRequest(deps, 'bob')).resolves.toEqual({ at: NOON, usedTokens: 0 });
    clock.now = () => NOON + 60_000;
    await expect(admitRequest(deps, 'alice')).resolves.toEqual({ at: NOON + 60_000, usedTokens: 0 });
  });
});

describe('daily token quota', () => {
  it('counts input, output and cache-creation tokens, not cache reads; refuses a run once used, until UTC midnight', async () => {
    // Prepare
    const { deps, usage } = depsAt(NOON);
    await usage.addTokens(
      'alice',
      '2026-11-30',
      {
        inputTokens: 400,
        outputTokens: 300,
        cacheCreationInputTokens: 299,
        cacheReadInputTokens: 5_000,
      },
      0,
    );
    // Act / Assess: 999 < 1000, and the run learns how much is used
    expect(admitRun(deps.limits, await admitRequest(deps, 'alice'))).toBe(999);
    await usage.addTokens('alice', '2026-11-30', { ...NO_TOKENS, outputTokens: 1 }, 0);
    const refused = await admitRequest(deps, 'alice');
    const error = await refusal(async () => admitRun(deps.limits, refused));
    expect(error.code).toBe('quota_exceeded');
    expect(error.retryAfterSeconds).toBe(12 * 3600 - 15);
    expect(admitRun(deps.limits, await admitRequest(deps, 'bob'))).toBe(0);
    // The refused run was still a request: it counts against the rate and in the day.
    expect((await usage.readDay('alice', '2026-11-30')).requests).toBe(2);
  });

  it('checks a run against the tokens its request’s count answered: one call to the store, no read of its own', async () => {
    // Prepare
    const { deps, usage } = depsAt(NOON);
    await usage.addTokens('alice', '2026-11-30', { ...NO_TOKENS, inputTokens: 1_000 }, 0);
    usage.calls.length = 0;
    // Act
    const admission = await admitRequest(deps, 'alice');
    const error = await refusal(async () => admitRun(deps.limits, admission));
    // Assess
    expect(error.code).toBe('quota_exceeded');
    expect(usage.calls).toEqual(['countRequest']);
  });

  it('times a refused run’s Retry-After from its admission, whose day the tokens are of', async () => {
    // Prepare: admitted the last second before midnight, checked just after it.
    const beforeMidnight = Date.parse('2026-11-30T23:59:59.000Z');
    const { deps, usage, clock } = depsAt(beforeMidnight);
    await usage.addTokens('alice', '2026-11-30', { ...NO_TOKENS, inputTokens: 1_000 }, 0);
    const admission = await admitRequest(deps, 'alice');
    clock.now = () => beforeMidnight + 2_000;
    // Act
    const error = await refusal(async () => admitRun(deps.limits, admission));
    // Assess
    expect(error.retryAfterSeconds).toBe(1);
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
    expect((await usage.readDay('alice', '2026-11-30')).tokens).toEqual(tokens);
  });
});

describe('GET /usage', () => {
  it('reports the caller’s own day in one read: requests over every minute, tokens and the limits', async () => {
    // Prepare
    const { deps, usage, clock } = depsAt(NOON);
    await admitRequest(deps, 'alice');
    clock.now = () => NOON + 3_600_000;
    await admitRequest(deps, 'alice');
    await admitRequest(deps, 'bob');
    await deps.usage.addTokens('alice', '2026-11-30', { ...NO_TOKENS, inputTokens: 7 }, 0);
    usage.calls.length = 0;
    // Act
    const report = await usageReport(deps, 'alice');
    // Assess
    expect(report).toEqual({
      day: '2026-11-30',
      requests: 2,
      tokens: { inputTokens: 7, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
      limits: { requestsPerMinute: 3, dailyTokens: 1_000 },
    });
    expect(usage.calls).toEqual(['readDay']);
  });
});
