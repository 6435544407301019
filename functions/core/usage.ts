import { DomainError } from './errors';
import type { RunQuota, TokenCharge } from './ports';

/** Token counts of model calls, as the Messages API reports them. */
export interface TokenCounts {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheCreationInputTokens: number;
  readonly cacheReadInputTokens: number;
}

export const NO_TOKENS: TokenCounts = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cacheCreationInputTokens: 0,
  cacheReadInputTokens: 0,
});

/** The per-user limits of `docs/api.md` "Usage and limits". */
export interface UsageLimits {
  /** Requests per UTC minute per caller (default 60). */
  readonly requestsPerMinute: number;
  /** Input + output + cache-creation tokens per UTC day per caller (default 1 000 000). */
  readonly dailyTokens: number;
}

/**
 * Per-user counters, one item per caller and UTC day: the day's tokens and the requests counted
 * in each of its minutes. Every write is atomic; the day expires on its own (TTL).
 */
export interface UsageStore {
  /**
   * Counts one request in `minute` (`2026-11-30T12:34`) unless the minute already holds `limit`,
   * and answers the tokens of the minute's day: one conditional write. Resolves undefined when
   * refused (nothing is counted then).
   */
  countRequest(sub: string, minute: string, limit: number, expiresAt: number): Promise<TokenCounts | undefined>;
  /** Adds a model call's tokens to the caller's `day`. */
  addTokens(sub: string, day: string, tokens: TokenCounts, expiresAt: number): Promise<void>;
  /** The caller's `day`: its tokens and the requests counted in each of its minutes, summed. */
  readDay(sub: string, day: string): Promise<{ readonly requests: number; readonly tokens: TokenCounts }>;
}

export interface UsageDeps {
  readonly usage: UsageStore;
  readonly clock: { now(): number };
  readonly limits: UsageLimits;
}

/** A caller went over a per-user limit: `429` with `Retry-After` (seconds). */
export class LimitError extends DomainError {
  override name = 'LimitError';
  constructor(
    code: 'rate_limited' | 'quota_exceeded',
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(code, message);
  }
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** A day's counters stay readable for a week after it (support questions), then expire. */
const DAY_KEEP_MS = 7 * DAY_MS;

/** `2026-11-30T12:34`: the UTC minute of `ms`. */
export const minuteOf = (ms: number): string => new Date(ms).toISOString().slice(0, 16);
/** `2026-11-30`: the UTC day of `ms`. */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const startOfNextDay = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS + DAY_MS;
/** When the counters of the day of `ms` may be cleaned up (epoch seconds). */
const dayExpiry = (ms: number) => Math.ceil((startOfNextDay(ms) + DAY_KEEP_MS) / 1000);

/** The tokens the daily quota counts: input, output and cache creation (cache reads are not counted). */
export const quotaTokens = (tokens: TokenCounts): number => tokens.inputTokens + tokens.outputTokens + tokens.cacheCreationInputTokens;

/** A request counted against the caller's rate: when, and the quota tokens of that day used so far. */
export interface Admission {
  readonly at: number;
  readonly usedTokens: number;
}

/**
 * Counts a request that passed the token check against the caller's per-minute rate.
 * Primary course: one conditional increment of the caller's counter for this UTC minute, which
 * also answers the day's tokens, so a run's quota check needs no read of its own; refused at the
 * limit with `429 rate_limited` and `Retry-After` = seconds to the next minute.
 */
export async function admitRequest(deps: UsageDeps, sub: string): Promise<Admission> {
  const now = deps.clock.now();
  const tokens = await deps.usage.countRequest(sub, minuteOf(now), deps.limits.requestsPerMinute, dayExpiry(now));
  if (tokens) return { at: now, usedTokens: quotaTokens(tokens) };
  const retryAfter = Math.max(1, Math.ceil((Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS - now) / 1000));
  throw new LimitError(
    'rate_limited',
    `Too many requests: at most ${deps.limits.requestsPerMinute} per minute per user. Retry after ${retryAfter} s.`,
    retryAfter,
  );
}

/** Seconds from `now` to the next UTC midnight (at least 1). */
export function secondsToNextDay(now: number): number {
  return Math.max(1, Math.ceil((startOfNextDay(now) - now) / 1000));
}

/**
 * Refuses to start a run once the caller's daily token quota is used up: `429 quota_exceeded`
 * with `Retry-After` = seconds to the next UTC midnight. No I/O: the request's admission already
 * read the day's tokens, which the run's quota starts from.
 */
export function admitRun(limits: UsageLimits, admission: Admission): number {
  if (admission.usedTokens < limits.dailyTokens) return admission.usedTokens;
  throw quotaExceeded(limits, admission.at);
}

export function quotaExceeded(limits: UsageLimits, now: number): LimitError {
  return new LimitError(
    'quota_exceeded',
    `The daily model-token quota of ${limits.dailyTokens} tokens is used up; it resets at 00:00 UTC.`,
    secondsToNextDay(now),
  );
}

/** `GET /usage`: the caller's own figures for the current UTC day. */
export async function usageReport(deps: UsageDeps, sub: string) {
  const day = dayOf(deps.clock.now());
  const { requests, tokens } = await deps.usage.readDay(sub, day);
  return {
    day,
    requests,
    tokens: {
      inputTokens: tokens.inputTokens,
      outputTokens: tokens.outputTokens,
      cacheCreationInputTokens: tokens.cacheCreationInputTokens,
      cacheReadInputTokens: tokens.cacheReadInputTokens,
    },
    limits: { requestsPerMinute: deps.limits.requestsPerMinute, dailyTokens: deps.limits.dailyTokens },
  };
}

/**
 * The caller's daily quota as one request's run sees it: the tokens used before the request plus
 * the run's own. Each model call's tokens are charged with the write that stores its answer (one
 * write, not two); a charge whose write failed is added on its own (the tokens were spent).
 */
export class DailyTokens implements RunQuota {
  private used: number;

  constructor(
    private readonly deps: UsageDeps,
    private readonly sub: string,
    usedBefore = 0,
  ) {
    this.used = usedBefore;
  }

  usedUp(): boolean {
    return this.used >= this.deps.limits.dailyTokens;
  }

  charge(tokens: TokenCounts): TokenCharge {
    this.used += quotaTokens(tokens);
    const now = this.deps.clock.now();
    return { day: dayOf(now), tokens: { ...tokens }, expiresAt: dayExpiry(now) };
  }

  async record(charge: TokenCharge): Promise<void> {
    await this.deps.usage.addTokens(this.sub, charge.day, charge.tokens, charge.expiresAt);
  }
}
