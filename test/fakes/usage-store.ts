import { NO_TOKENS, type TokenCounts, type UsageStore } from '../../functions/core/usage';

/** One caller's day, as the adapter's `USAGE#<day>` item holds it. */
interface StoredDay {
  tokens: TokenCounts;
  /** Requests counted in each minute of the day, by minute (`2026-11-30T12:34`). */
  minutes: Map<string, number>;
  /** When the table may clean the day up (epoch seconds): set by the day's first write. */
  ttl: number;
}

const addCounts = (a: TokenCounts, b: TokenCounts): TokenCounts => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cacheCreationInputTokens: a.cacheCreationInputTokens + b.cacheCreationInputTokens,
  cacheReadInputTokens: a.cacheReadInputTokens + b.cacheReadInputTokens,
});

const dayKey = (sub: string, day: string) => `${sub}|${day}`;

/** The per-user counters, one day per caller, with the adapter's conditional count. */
export class FakeUsageStore implements UsageStore {
  private readonly days = new Map<string, StoredDay>();
  /** Every call, by method: each is one request to the table in the adapter. */
  readonly calls: (keyof UsageStore)[] = [];

  /** A day as stored (for assertions). */
  storedDay(sub: string, day: string): Readonly<StoredDay> | undefined {
    const stored = this.days.get(dayKey(sub, day));
    return stored && structuredClone(stored);
  }

  /** The day a write goes to, created with its `ttl` by the first. */
  private written(sub: string, day: string, expiresAt: number): StoredDay {
    let stored = this.days.get(dayKey(sub, day));
    if (!stored) this.days.set(dayKey(sub, day), (stored = { tokens: NO_TOKENS, minutes: new Map(), ttl: expiresAt }));
    return stored;
  }

  async countRequest(sub: string, minute: string, limit: number, expiresAt: number): Promise<TokenCounts | undefined> {
    this.calls.push('countRequest');
    const day = minute.slice(0, 10);
    const counted = this.days.get(dayKey(sub, day))?.minutes.get(minute) ?? 0;
    if (counted >= limit) return undefined;
    const stored = this.written(sub, day, expiresAt);
    stored.minutes.set(minute, counted + 1);
    return { ...stored.tokens };
  }

  async addTokens(sub: string, day: string, tokens: TokenCounts, expiresAt: number): Promise<void> {
    this.calls.push('addTokens');
    const stored = this.written(sub, day, expiresAt);
    stored.tokens = addCounts(stored.tokens, tokens);
  }

  async readDay(sub: string, day: string): Promise<{ requests: number; tokens: TokenCounts }> {
    this.calls.push('readDay');
    const stored = this.days.get(dayKey(sub, day));
    let requests = 0;
    for (const count of stored?.minutes.values() ?? []) requests += count;
    return { requests, tokens: { ...(stored?.tokens ?? NO_TOKENS) } };
  }
}
