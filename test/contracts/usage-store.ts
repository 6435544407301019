/**
 * The usage store's contract (the per-user counters of "Usage and limits"), written once and run
 * against every implementation: the in-memory fake (`test/unit/`) and the DynamoDB adapter on
 * DynamoDB Local (`test/integration/`). Every case works under fresh `sub`s.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NO_TOKENS, type TokenCounts, type UsageStore } from '../../functions/core/usage';

export interface UsageStoreSubject {
  readonly store: UsageStore;
  /** The `ttl` attribute stored with a caller's day (epoch seconds), as the table's TTL reads it. */
  dayTtl(sub: string, day: string): Promise<number | undefined>;
}

const newSub = () => `sub-${randomUUID()}`;

const DAY = '2026-11-30';
const EXPIRES = Date.parse('2026-12-08T00:00:00Z') / 1000;
const tokens = (inputTokens: number, outputTokens = 0, cacheCreationInputTokens = 0, cacheReadInputTokens = 0): TokenCounts => ({
  inputTokens,
  outputTokens,
  cacheCreationInputTokens,
  cacheReadInputTokens,
});

export function usageStoreContract(name: string, open: () => UsageStoreSubject | Promise<UsageStoreSubject>): void {
  describe(`UsageStore contract: ${name}`, () => {
    it('counts a minute up to its limit, each count answering the day’s tokens, then refuses and counts nothing', async () => {
      // Prepare
      const { store } = await open();
      const sub = newSub();
      await store.addTokens(sub, DAY, tokens(10, 20, 30, 40), EXPIRES);

      // Act
      const counted = [];
      for (let i = 0; i < 3; i++) counted.push(await store.countRequest(sub, `${DAY}T12:34`, 3, EXPIRES));
      const refused = await store.countRequest(sub, `${DAY}T12:34`, 3, EXPIRES);
      const nextMinute = await store.countRequest(sub, `${DAY}T12:35`, 3, EXPIRES);

      // Assess
      expect(counted).toEqual(Array(3).fill(tokens(10, 20, 30, 40)));
      expect(refused).toBeUndefined();
      expect(nextMinute).toEqual(tokens(10, 20, 30, 40));
      expect((await store.readDay(sub, DAY)).requests).toBe(4);
    });

    it('answers no tokens to the day’s first request', async () => {
      // Prepare
      const { store } = await open();

      // Act
      const first = await store.countRequest(newSub(), `${DAY}T00:00`, 1, EXPIRES);

      // Assess
      expect(first).toEqual(NO_TOKENS);
    });

    it('reads a day as the requests of all its minutes and its tokens, never another day’s or another user’s', async () => {
      // Prepare
      const { store } = await open();
      const [alice, bob] = [newSub(), newSub()];
      for (const minute of ['00:00', '12:34', '12:34', '23:59']) await store.countRequest(alice, `${DAY}T${minute}`, 60, EXPIRES);
      await store.countRequest(alice, '2026-12-01T00:00', 60, EXPIRES);
      await store.countRequest(bob, `${DAY}T12:34`, 60, EXPIRES);
      await store.addTokens(alice, DAY, tokens(1, 2, 3, 4), EXPIRES);
      await store.addTokens(alice, DAY, tokens(10, 20, 30, 40), EXPIRES);
      await store.addTokens(bob, DAY, tokens(100), EXPIRES);

      // Act
      const day = await store.readDay(alice, DAY);
      const unknown = await store.readDay(alice, '2026-11-29');

      // Assess
      expect(day).toEqual({ requests: 4, tokens: tokens(11, 22, 33, 44) });
      expect(unknown).toEqual({ requests: 0, tokens: NO_TOKENS });
    });

    it('keeps the expiry the day’s first write set, whichever write it was', async () => {
      // Prepare
      const { store, dayTtl } = await open();
      const [counted, charged] = [newSub(), newSub()];

      // Act
      await store.countRequest(counted, `${DAY}T12:34`, 60, EXPIRES);
      await store.addTokens(counted, DAY, tokens(1), EXPIRES + 60);
      await store.addTokens(charged, DAY, tokens(1), EXPIRES);
      await store.countRequest(charged, `${DAY}T12:34`, 60, EXPIRES + 60);

      // Assess
      expect(await dayTtl(counted, DAY)).toBe(EXPIRES);
      expect(await dayTtl(charged, DAY)).toBe(EXPIRES);
      expect(await dayTtl(newSub(), DAY)).toBeUndefined();
    });
  });
}
