/**
 * The connection store's contract (the registry and the link states), written once and run
 * against every implementation: the in-memory fake (`test/unit/`) and the DynamoDB adapter on
 * DynamoDB Local (`test/integration/`). Every case works under fresh `sub`s.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LinkState, RegistryEntry, VerifiedResult } from '../../functions/core/domain';
import type { ConnectionStore } from '../../functions/core/ports';
import { expectRefused, failure } from './port-errors';

export interface ConnectionStoreSubject {
  readonly store: ConnectionStore;
  /** The `ttl` attribute stored with a link state (epoch seconds), as the table's TTL reads it. */
  stateTtl(sub: string, state: string): Promise<number | undefined>;
}

const newSub = () => `sub-${randomUUID()}`;

const entry = (overrides: Partial<RegistryEntry> = {}): RegistryEntry => ({
  connection: 'asana',
  status: 'ACTIVE',
  connectedAccountId: 'ca_1',
  account: { name: 'Alice Example', email: 'alice@example.test', gid: '1001' },
  checkedAt: '2026-11-25T18:00:00.000Z',
  changedAt: '2026-11-25T17:00:00.000Z',
  ...overrides,
});

/** A link state issued at t=0 that expires at t=600 000 (ten minutes). */
const linkState = (state = 's1', connection = 'asana'): LinkState => ({ state, connection, createdAt: 0, expiresAt: 600_000 });

const verified: VerifiedResult = {
  status: 'ACTIVE',
  account: { name: 'Alice Example', email: 'alice@example.test', gid: '1001' },
  checkedAt: '2026-11-25T18:00:00.000Z',
};

const T = (minute: number) => `2026-11-25T18:${String(minute).padStart(2, '0')}:00.000Z`;

export function connectionStoreContract(name: string, open: () => ConnectionStoreSubject | Promise<ConnectionStoreSubject>): void {
  describe(`ConnectionStore contract: ${name}`, () => {
    describe('registry', () => {
      it('reads back an entry exactly as put, replaces it on a second put, and deletes it', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();

        // Act
        await store.putEntry(sub, entry());
        const first = await store.getEntry(sub, 'asana');
        await store.putEntry(sub, entry({ status: 'EXPIRED', connectedAccountId: undefined, account: undefined }));
        const replaced = await store.getEntry(sub, 'asana');
        await store.deleteEntry(sub, 'asana');
        await store.deleteEntry(sub, 'asana');

        // Assess
        expect(first).toEqual(entry());
        expect(replaced).toEqual(entry({ status: 'EXPIRED', connectedAccountId: undefined, account: undefined }));
        expect(await store.getEntry(sub, 'asana')).toBeUndefined();
        expect(await store.listEntries(sub)).toEqual([]);
      });

      it("lists a user's entries, one per connection, and never another user's", async () => {
        // Prepare
        const { store } = await open();
        const [alice, bob] = [newSub(), newSub()];
        await store.putEntry(alice, entry());
        await store.putEntry(alice, entry({ connection: 'github', status: 'PENDING_AUTH' }));
        await store.putState(alice, linkState());
        await store.putEntry(bob, entry({ connectedAccountId: 'ca_bob' }));

        // Act
        const listed = await store.listEntries(alice);

        // Assess
        expect([...listed].sort((a, b) => a.connection.localeCompare(b.connection))).toEqual([
          entry(),
          entry({ connection: 'github', status: 'PENDING_AUTH' }),
        ]);
        expect(await store.getEntry(newSub(), 'asana')).toBeUndefined();
        expect(await store.listEntries(newSub())).toEqual([]);
      });

      it('records a new status as a change, and moves changedAt only when the status differs', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putEntry(sub, entry({ checkedAt: T(0), changedAt: T(0) }));

        // Act
        const fresh = await store.recordStatus(newSub(), 'asana', { status: 'PENDING_AUTH', checkedAt: T(1) });
        const same = await store.recordStatus(sub, 'asana', { status: 'ACTIVE', checkedAt: T(2) });
        const afterSame = await store.getEntry(sub, 'asana');
        const changed = await store.recordStatus(sub, 'asana', { status: 'EXPIRED', connectedAccountId: 'ca_2', checkedAt: T(3) });
        const afterChange = await store.getEntry(sub, 'asana');

        // Assess
        expect([fresh, same, changed]).toEqual([true, false, true]);
        expect(afterSame).toEqual(entry({ checkedAt: T(2), changedAt: T(0) }));
        // The pinned account stays: only the status, times and account id move.
        expect(afterChange).toEqual(entry({ status: 'EXPIRED', connectedAccountId: 'ca_2', checkedAt: T(3), changedAt: T(3) }));
      });

      it('creates an entry for a first status with only what was seen', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();

        // Act
        const created = await store.recordStatus(sub, 'asana', { status: 'PENDING_AUTH', connectedAccountId: 'ca_9', checkedAt: T(1) });

        // Assess
        expect(created).toBe(true);
        expect(await store.getEntry(sub, 'asana')).toEqual({
          connection: 'asana',
          status: 'PENDING_AUTH',
          connectedAccountId: 'ca_9',
          checkedAt: T(1),
          changedAt: T(1),
        });
      });

      it('never moves checkedAt back, and writes nothing for an unchanged status when told not to touch', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putEntry(sub, entry({ checkedAt: T(5), changedAt: T(0) }));

        // Act
        const older = await store.recordStatus(sub, 'asana', { status: 'ACTIVE', connectedAccountId: 'ca_old', checkedAt: T(4) });
        const afterOlder = await store.getEntry(sub, 'asana');
        const untouched = await store.recordStatus(sub, 'asana', {
          status: 'ACTIVE',
          connectedAccountId: 'ca_new',
          checkedAt: T(9),
          touch: false,
        });
        const afterUntouched = await store.getEntry(sub, 'asana');
        const touched = await store.recordStatus(sub, 'asana', { status: 'ACTIVE', connectedAccountId: 'ca_new', checkedAt: T(9) });

        // Assess
        expect([older, untouched, touched]).toEqual([false, false, false]);
        expect(afterOlder).toEqual(entry({ checkedAt: T(5), changedAt: T(0) }));
        expect(afterUntouched).toEqual(entry({ checkedAt: T(5), changedAt: T(0) }));
        expect(await store.getEntry(sub, 'asana')).toEqual(entry({ connectedAccountId: 'ca_new', checkedAt: T(9), changedAt: T(0) }));
      });

      it('reports a change once when the same new status is recorded by racing requests', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putEntry(sub, entry());

        // Act
        const results = await Promise.all(
          Array.from({ length: 4 }, () => store.recordStatus(sub, 'asana', { status: 'DISCONNECTED', checkedAt: T(7) })),
        );

        // Assess
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.getEntry(sub, 'asana')).toMatchObject({ status: 'DISCONNECTED', changedAt: T(7) });
      });

      it('reads the statuses of many users for one connection, leaving out users without an entry', async () => {
        // Prepare
        const { store } = await open();
        const subs = Array.from({ length: 101 }, () => newSub());
        await Promise.all(
          subs.map((sub, i) =>
            i % 3 === 2 ? Promise.resolve() : store.putEntry(sub, entry({ status: i % 3 === 0 ? 'ACTIVE' : 'EXPIRED' })),
          ),
        );
        await store.putEntry(subs[2]!, entry({ connection: 'github' }));

        // Act
        const statuses = await store.statusesOf(subs, 'asana');
        const none = await store.statusesOf([], 'asana');

        // Assess
        expect(statuses).toEqual(
          new Map(subs.flatMap((sub, i) => (i % 3 === 2 ? [] : [[sub, i % 3 === 0 ? 'ACTIVE' : 'EXPIRED'] as const]))),
        );
        expect(none.size).toBe(0);
      });
    });

    describe('link states', () => {
      it('issues a state once: a second issue of the same state is refused', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putState(sub, linkState());
        await store.claimState(sub, 's1', 'asana', 'ar1', 1_000);

        // Act
        const again = await failure(store.putState(sub, { ...linkState(), expiresAt: 900_000 }));

        // Assess
        expectRefused(again);
        expect(await store.claimState(sub, 's1', 'asana', 'ar2', 2_000)).toEqual({ kind: 'refused' });
      });

      it('claims an issued state once, lets a stale claim be taken over, and answers a repeat of a completed verify', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putState(sub, linkState());

        // Act
        const claimed = await store.claimState(sub, 's1', 'asana', 'ar1', 1_000);
        const whileClaimed = await store.claimState(sub, 's1', 'asana', 'ar2', 2_000);
        const sameWhileClaimed = await store.claimState(sub, 's1', 'asana', 'ar1', 2_000);
        const notYetStale = await store.claimState(sub, 's1', 'asana', 'ar2', 61_000);
        const stale = await store.claimState(sub, 's1', 'asana', 'ar2', 61_001);
        const lateComplete = await failure(store.completeState(sub, 's1', 'ar1', verified));
        expectRefused(lateComplete);
        await store.completeState(sub, 's1', 'ar2', verified);
        const repeat = await store.claimState(sub, 's1', 'asana', 'ar2', 62_000);
        const otherRequest = await store.claimState(sub, 's1', 'asana', 'ar1', 62_000);
        const otherConnection = await store.claimState(sub, 's1', 'github', 'ar2', 62_000);

        // Assess
        expect([claimed, whileClaimed, sameWhileClaimed, notYetStale, stale].map((claim) => claim.kind)).toEqual([
          'claimed',
          'refused',
          'refused',
          'refused',
          'claimed',
        ]);
        expect(repeat).toEqual({ kind: 'already_verified', result: verified });
        expect([otherRequest, otherConnection]).toEqual([{ kind: 'refused' }, { kind: 'refused' }]);
      });

      it('refuses a state of another connection, an unknown state, and an expired one', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putState(sub, linkState('s1'));
        await store.putState(sub, linkState('s2'));

        // Act
        const wrongConnection = await store.claimState(sub, 's1', 'github', 'ar1', 1_000);
        const unknown = await store.claimState(sub, 's-unknown', 'asana', 'ar1', 1_000);
        const atExpiry = await store.claimState(sub, 's1', 'asana', 'ar1', 600_000);
        const justBefore = await store.claimState(sub, 's2', 'asana', 'ar2', 599_999);

        // Assess
        expect([wrongConnection, unknown, atExpiry].map((claim) => claim.kind)).toEqual(['refused', 'refused', 'refused']);
        expect(justBefore.kind).toBe('claimed');
      });

      it('still answers a repeat of a completed verify after the state expired', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putState(sub, linkState());
        await store.claimState(sub, 's1', 'asana', 'ar1', 1_000);
        await store.completeState(sub, 's1', 'ar1', verified);

        // Act
        const repeat = await store.claimState(sub, 's1', 'asana', 'ar1', 700_000);

        // Assess
        expect(repeat).toEqual({ kind: 'already_verified', result: verified });
      });

      it('gives a claim back only to its claimer, after which the state can be claimed again', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putState(sub, linkState());
        await store.claimState(sub, 's1', 'asana', 'ar1', 1_000);

        // Act
        await store.releaseState(sub, 's1', 'ar-other');
        const notReleased = await store.claimState(sub, 's1', 'asana', 'ar2', 2_000);
        await store.releaseState(sub, 's1', 'ar1');
        const released = await store.claimState(sub, 's1', 'asana', 'ar2', 3_000);
        const completeByOld = await failure(store.completeState(sub, 's1', 'ar1', verified));
        await store.releaseState(sub, 's-unknown', 'ar1');

        // Assess
        expect([notReleased.kind, released.kind]).toEqual(['refused', 'claimed']);
        expectRefused(completeByOld);
      });

      it('completes only a claimed state, and a used state is never released or claimed again', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putState(sub, linkState());

        // Act
        const unclaimed = await failure(store.completeState(sub, 's1', 'ar1', verified));
        expectRefused(unclaimed);
        await store.claimState(sub, 's1', 'asana', 'ar1', 1_000);
        await store.completeState(sub, 's1', 'ar1', verified);
        await store.releaseState(sub, 's1', 'ar1');
        const afterRelease = await store.claimState(sub, 's1', 'asana', 'ar2', 200_000);
        const twice = await failure(store.completeState(sub, 's1', 'ar1', { ...verified, status: 'EXPIRED' }));

        // Assess
        expect(afterRelease).toEqual({ kind: 'refused' });
        expectRefused(twice);
        expect(await store.claimState(sub, 's1', 'asana', 'ar1', 200_000)).toEqual({ kind: 'already_verified', result: verified });
      });

      it('lets exactly one of two racing verifies claim a state', async () => {
        // Prepare
        const { store } = await open();
        const sub = newSub();
        await store.putState(sub, linkState());

        // Act
        const claims = await Promise.all([
          store.claimState(sub, 's1', 'asana', 'ar1', 1_000),
          store.claimState(sub, 's1', 'asana', 'ar2', 1_000),
        ]);

        // Assess
        expect(claims.map((claim) => claim.kind).sort()).toEqual(['claimed', 'refused']);
      });

      it("never claims, completes or releases another user's state", async () => {
        // Prepare
        const { store } = await open();
        const [alice, mallory] = [newSub(), newSub()];
        await store.putState(alice, linkState());
        await store.putState(mallory, linkState('s-mallory'));

        // Act
        const claim = await store.claimState(mallory, 's1', 'asana', 'ar1', 1_000);
        const complete = await failure(store.completeState(mallory, 's1', 'ar1', verified));
        await store.releaseState(mallory, 's1', 'ar1');
        const crossed = await store.claimState(alice, 's-mallory', 'asana', 'ar1', 1_000);

        // Assess
        expect([claim.kind, crossed.kind]).toEqual(['refused', 'refused']);
        expectRefused(complete);
        expect((await store.claimState(alice, 's1', 'asana', 'ar1', 1_000)).kind).toBe('claimed');
      });

      it('stores a TTL (epoch seconds) that lets the table clean a state up only after it expired', async () => {
        // Prepare
        const { store, stateTtl } = await open();
        const sub = newSub();
        const expiresAt = Date.parse('2026-11-25T18:10:00.500Z');

        // Act
        await store.putState(sub, { state: 's1', connection: 'asana', createdAt: expiresAt - 600_000, expiresAt });
        const ttl = await stateTtl(sub, 's1');

        // Assess
        expect(Number.isInteger(ttl)).toBe(true);
        expect(ttl).toBeGreaterThanOrEqual(Math.ceil(expiresAt / 1000));
        expect(ttl).toBeLessThanOrEqual(Math.ceil(expiresAt / 1000) + 24 * 3600);
        expect(await stateTtl(newSub(), 's1')).toBeUndefined();
      });
    });
  });
}
