import { describe, expect, it } from 'vitest';
import {
  checkConnectionStatuses,
  connect,
  disconnect,
  listConnections,
  pinnedAccountOf,
  resolveVerifyUrl,
  verify,
} from '../../functions/core/connections';
import { UpstreamError } from '../../functions/core/errors';
import type { ConnectionStatus } from '../../functions/core/domain';
import { connectionSettings, connectionsWorld, DEFAULT_TOOLS, DEFAULT_VERIFY_URL, domainError, FakeConnectedAccounts } from '../fakes';

const ALICE = 'sub-alice';
const BOB = 'sub-bob';
const ALICE_ASANA = { gid: '1201', name: 'Alice Ng', email: 'alice@acme.test' };
const BOB_ASANA = { gid: '1202', name: 'Bob Ray', email: 'bob@acme.test' };

function world() {
  const w = connectionsWorld();
  w.accounts.profiles.set(ALICE, ALICE_ASANA);
  w.accounts.profiles.set(BOB, BOB_ASANA);
  return w;
}

/** Alice asks for a link and consents in Asana: she holds a state and an auth request. */
async function aliceConsented(w: ReturnType<typeof world>) {
  const link = await connect(w.deps, ALICE, 'asana', undefined);
  const state = w.accounts.links.at(-1)!.state;
  const authRequestId = w.accounts.consent(ALICE);
  return { link, state, authRequestId };
}

describe('resolveVerifyUrl', () => {
  const settings = connectionSettings();

  it('uses the deployment default when the client names none', () => {
    // Prepare / Act
    const url = resolveVerifyUrl(settings, undefined);

    // Assess
    expect(url).toBe(DEFAULT_VERIFY_URL);
  });

  it.each([
    DEFAULT_VERIFY_URL,
    'https://console.onbehalf.test/other/page?x=1',
    'http://127.0.0.1:53682/callback',
    'http://127.0.0.1/callback',
    'http://localhost:8080/cb',
    'http://localhost:1/',
  ])('allows %s', (candidate) => {
    // Prepare / Act
    const url = resolveVerifyUrl(settings, candidate);

    // Assess
    expect(new URL(url).href).toBe(new URL(candidate).href);
  });

  it.each([
    'https://evil.test/verify',
    'https://evil.test',
    'javascript:alert(document.cookie)',
    'data:text/html,<script>alert(1)</script>',
    'http://127.0.0.1@evil.test/cb',
    'http://localhost:8080@evil.test/cb',
    'http://user:pass@127.0.0.1:8080/cb',
    'https://console.onbehalf.test@evil.test/verify',
    'http://127.0.0.1.evil.test/cb',
    'http://localhost.evil.test/cb',
    'http://console.onbehalf.test/verify',
    'https://console.onbehalf.test.evil.test/verify',
    'https://console.onbehalf.test:8443/verify',
    'ftp://127.0.0.1/cb',
    '/connections/verify',
    'not a url',
    '',
  ])('refuses %s with 400 validation_failed', async (candidate) => {
    // Prepare / Act
    const error = await domainError(() => resolveVerifyUrl(settings, candidate));

    // Assess
    expect(error.code).toBe('validation_failed');
  });

  it('refuses a console URL when the deployment has no web console', async () => {
    // Prepare
    const noConsole = connectionSettings({ webOrigin: undefined, defaultVerifyUrl: 'http://127.0.0.1:3000/verify' });

    // Act
    const error = await domainError(() => resolveVerifyUrl(noConsole, 'https://console.onbehalf.test/verify'));

    // Assess
    expect(error.code).toBe('validation_failed');
  });
});

describe('connect', () => {
  it('answers ACTIVE with the pinned account and mints no link when the account is active', async () => {
    // Prepare
    const w = world();
    w.accounts.setStatus(ALICE, 'ACTIVE');

    // Act
    const result = await connect(w.deps, ALICE, 'asana', undefined);

    // Assess
    expect(result).toEqual({ connection: 'asana', status: 'ACTIVE', account: ALICE_ASANA });
    expect(w.accounts.links).toHaveLength(0);
    expect(w.store.statesFor(ALICE)).toHaveLength(0);
    expect((await w.store.getEntry(ALICE, 'asana'))?.account).toEqual(ALICE_ASANA);
  });

  describe.each<{ status: Exclude<ConnectionStatus, 'ACTIVE' | 'NOT_CONNECTED'> | 'none' }>([
    { status: 'none' },
    { status: 'PENDING_AUTH' },
    { status: 'PENDING_VERIFICATION' },
    { status: 'EXPIRED' },
    { status: 'DISCONNECTED' },
  ])('when the account is $status', ({ status }) => {
    it('answers the real status with a fresh link bound to the caller, a stored state and the verify URL', async () => {
      // Prepare
      const w = world();
      if (status !== 'none') w.accounts.setStatus(ALICE, status);
      const verifyUrl = 'http://127.0.0.1:53682/callback';

      // Act
      const result = await connect(w.deps, ALICE, 'asana', verifyUrl);

      // Assess
      const expectedStatus = status === 'none' ? 'PENDING_AUTH' : status;
      expect(w.accounts.links).toHaveLength(1);
      const link = w.accounts.links[0]!;
      expect(link).toMatchObject({ identifier: ALICE, connection: 'asana', verifyUrl });
      expect(result).toEqual({
        connection: 'asana',
        status: expectedStatus,
        authorizationUrl: link.url,
        expiresAt: new Date(w.clock.now() + 600_000).toISOString(),
      });
      const stored = w.store.stateOf(ALICE, link.state);
      expect(stored).toMatchObject({
        connection: 'asana',
        stateStatus: 'issued',
        createdAt: w.clock.now(),
        expiresAt: w.clock.now() + 600_000,
      });
      expect(w.store.statesFor(BOB)).toHaveLength(0);
      expect((await w.store.getEntry(ALICE, 'asana'))?.status).toBe(expectedStatus);
    });
  });

  it.each([
    ['sooner than the state', 120_000, 120_000],
    ['later than the state', 3_600_000, 600_000],
  ])("reports when the link stops working: Scalekit's expiry %s", async (_name, linkLifetime, expected) => {
    // Prepare
    const w = world();
    w.accounts.linkExpiresAt = w.clock.now() + linkLifetime;

    // Act
    const result = await connect(w.deps, ALICE, 'asana', undefined);

    // Assess
    expect(result).toMatchObject({ expiresAt: new Date(w.clock.now() + expected).toISOString() });
  });

  it('mints a new state for every link', async () => {
    // Prepare
    const w = world();

    // Act
    await connect(w.deps, ALICE, 'asana', undefined);
    await connect(w.deps, ALICE, 'asana', undefined);

    // Assess
    const [first, second] = w.accounts.links;
    expect(first?.state).not.toBe(second?.state);
    expect(first?.verifyUrl).toBe(DEFAULT_VERIFY_URL);
    expect(w.store.statesFor(ALICE)).toHaveLength(2);
  });

  it('refuses a verify URL outside the allowlist before touching Scalekit', async () => {
    // Prepare
    const w = world();

    // Act
    const error = await domainError(() => connect(w.deps, ALICE, 'asana', 'https://evil.test/steal'));

    // Assess
    expect(error.code).toBe('validation_failed');
    expect(w.accounts.calls).toHaveLength(0);
    expect(w.store.statesFor(ALICE)).toHaveLength(0);
  });
});

describe('verify', () => {
  it('activates the account and pins the Asana user from the who-am-I tool', async () => {
    // Prepare
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    w.clock.advance(30_000);

    // Act
    const result = await verify(w.deps, ALICE, 'asana', { authRequestId, state });

    // Assess
    const checkedAt = new Date(w.clock.now()).toISOString();
    expect(result).toEqual({ connection: 'asana', status: 'ACTIVE', account: ALICE_ASANA, checkedAt });
    expect(w.accounts.callsOf('verify')).toEqual([{ method: 'verify', identifier: ALICE }]);
    expect(w.accounts.executionsOf('asana_me_get')).toEqual([
      { identifier: ALICE, connection: 'asana', toolName: 'asana_me_get', input: {} },
    ]);
    expect(await w.store.getEntry(ALICE, 'asana')).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA, checkedAt });
    expect(w.store.stateOf(ALICE, state)?.stateStatus).toBe('used');
  });

  describe.each([
    {
      case: "another user's state",
      act: async (w: ReturnType<typeof world>, state: string, authRequestId: string) =>
        verify(w.deps, BOB, 'asana', { authRequestId, state }),
    },
    {
      case: 'an expired state',
      act: async (w: ReturnType<typeof world>, state: string, authRequestId: string) => {
        w.clock.advance(600_000);
        return verify(w.deps, ALICE, 'asana', { authRequestId, state });
      },
    },
    {
      case: 'a state never issued',
      act: async (w: ReturnType<typeof world>, _state: string, authRequestId: string) =>
        verify(w.deps, ALICE, 'asana', { authRequestId, state: 'state-forged' }),
    },
    {
      case: 'a state issued for another connection',
      act: async (w: ReturnType<typeof world>, state: string, authRequestId: string) => {
        const other = connectionsWorld({ connections: ['asana', 'github'] });
        return verify({ ...w.deps, settings: other.deps.settings }, ALICE, 'github', { authRequestId, state });
      },
    },
  ])('with $case', ({ act }) => {
    it('answers 403 verification_failed and makes no upstream call', async () => {
      // Prepare
      const w = world();
      const { state, authRequestId } = await aliceConsented(w);
      const callsBefore = w.accounts.calls.length;

      // Act
      const error = await domainError(() => act(w, state, authRequestId));

      // Assess
      expect(error.code).toBe('verification_failed');
      expect(w.accounts.calls.slice(callsBefore)).toEqual([]);
      expect(w.accounts.statusOf(ALICE)).toBe('PENDING_VERIFICATION');
      expect(w.accounts.statusOf(BOB)).toBe('NOT_CONNECTED');
      expect(await w.store.getEntry(BOB, 'asana')).toBeUndefined();
    });
  });

  it('refuses a used state with another auth request, with no upstream call', async () => {
    // Prepare
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    await verify(w.deps, ALICE, 'asana', { authRequestId, state });
    const secondRequest = w.accounts.consent(ALICE);
    const callsBefore = w.accounts.calls.length;

    // Act
    const error = await domainError(() => verify(w.deps, ALICE, 'asana', { authRequestId: secondRequest, state }));

    // Assess
    expect(error.code).toBe('verification_failed');
    expect(w.accounts.calls.slice(callsBefore)).toEqual([]);
  });

  it('answers a repeat of a successful verify with the same body and no upstream call', async () => {
    // Prepare
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    const first = await verify(w.deps, ALICE, 'asana', { authRequestId, state });
    const callsBefore = w.accounts.calls.length;
    w.clock.advance(5_000);

    // Act
    const repeat = await verify(w.deps, ALICE, 'asana', { authRequestId, state });

    // Assess
    expect(repeat).toEqual(first);
    expect(w.accounts.calls.slice(callsBefore)).toEqual([]);
  });

  it('refuses a repeat by another user even with the right state and auth request', async () => {
    // Prepare
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    await verify(w.deps, ALICE, 'asana', { authRequestId, state });

    // Act
    const error = await domainError(() => verify(w.deps, BOB, 'asana', { authRequestId, state }));

    // Assess
    expect(error.code).toBe('verification_failed');
    expect(await w.store.getEntry(BOB, 'asana')).toBeUndefined();
  });

  it("answers 403 when Scalekit refuses (someone else's consent) and releases the state for the rightful verify", async () => {
    // Prepare: Bob completed a consent; his auth request lands in Alice's session
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    const bobsRequest = w.accounts.consent(BOB);

    // Act
    const error = await domainError(() => verify(w.deps, ALICE, 'asana', { authRequestId: bobsRequest, state }));
    const retry = await verify(w.deps, ALICE, 'asana', { authRequestId, state });

    // Assess
    expect(error.code).toBe('verification_failed');
    expect(w.accounts.callsOf('verify')).toEqual([
      { method: 'verify', identifier: ALICE },
      { method: 'verify', identifier: ALICE },
    ]);
    expect(retry).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA });
    expect(w.accounts.statusOf(BOB)).toBe('PENDING_VERIFICATION');
    expect(await w.store.getEntry(BOB, 'asana')).toBeUndefined();
  });

  it('passes an upstream failure on, releases the state, and a retry then succeeds', async () => {
    // Prepare
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    w.accounts.failNext('verify');

    // Act
    const failure = await domainError(() => verify(w.deps, ALICE, 'asana', { authRequestId, state }));
    const stateAfterFailure = w.store.stateOf(ALICE, state);
    const retry = await verify(w.deps, ALICE, 'asana', { authRequestId, state });

    // Assess
    expect(failure).toBeInstanceOf(UpstreamError);
    expect(failure.code).toBe('upstream_unavailable');
    expect(stateAfterFailure?.stateStatus).toBe('issued');
    expect(retry).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA });
  });

  it('counts a verify whose RPC failed as a success when the account reads ACTIVE (the answer was lost)', async () => {
    // Prepare: Scalekit activated the account, then its answer never arrived.
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    w.accounts.failNext('verify', new UpstreamError('unavailable', 'scalekit', 'the answer was lost'));
    w.accounts.setStatus(ALICE, 'ACTIVE');

    // Act
    const verified = await verify(w.deps, ALICE, 'asana', { authRequestId, state });
    const repeat = await verify(w.deps, ALICE, 'asana', { authRequestId, state });

    // Assess: pinned as usual, the state used, and the verify never sent twice.
    expect(verified).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA });
    expect(repeat).toEqual(verified);
    expect(w.accounts.callsOf('verify')).toHaveLength(1);
    expect(w.store.stateOf(ALICE, state)?.stateStatus).not.toBe('issued');
    expect(await w.store.getEntry(ALICE, 'asana')).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA });
  });

  it.each([
    ['the account is not ACTIVE', (_w: ReturnType<typeof world>) => undefined],
    ['its status cannot be read either', (w: ReturnType<typeof world>) => w.accounts.failNext('get')],
  ])('answers the RPC failure of a verify when %s, and keeps the state for a retry', async (_case, arrange) => {
    // Prepare
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    w.accounts.failNext('verify', new UpstreamError('timeout', 'scalekit', 'no answer'));
    arrange(w);
    const entryBefore = await w.store.getEntry(ALICE, 'asana');

    // Act
    const failure = await domainError(() => verify(w.deps, ALICE, 'asana', { authRequestId, state }));

    // Assess
    expect(failure.code).toBe('upstream_timeout');
    expect(w.accounts.callsOf('get')).toHaveLength(1);
    expect(w.store.stateOf(ALICE, state)?.stateStatus).toBe('issued');
    expect(await w.store.getEntry(ALICE, 'asana')).toEqual(entryBefore);
  });

  it('pins the account of a connection with any name: the who-am-I tool is found by its tools, not the name', async () => {
    // Prepare: Scalekit named the Asana connection `asana-7fq2`.
    const base = connectionsWorld({ connections: ['asana-7fq2'] });
    const accounts = new FakeConnectedAccounts({ 'asana-7fq2': DEFAULT_TOOLS });
    accounts.profiles.set(ALICE, ALICE_ASANA);
    const deps = { ...base.deps, accounts };
    await connect(deps, ALICE, 'asana-7fq2', undefined);
    const state = accounts.links.at(-1)!.state;
    const authRequestId = accounts.consent(ALICE, 'asana-7fq2');

    // Act
    const verified = await verify(deps, ALICE, 'asana-7fq2', { authRequestId, state });
    const [listed] = await listConnections(deps, ALICE);

    // Assess
    expect(verified).toMatchObject({ connection: 'asana-7fq2', status: 'ACTIVE', account: ALICE_ASANA });
    expect(accounts.executionsOf('asana_me_get')).toEqual([
      { identifier: ALICE, connection: 'asana-7fq2', toolName: 'asana_me_get', input: {} },
    ]);
    expect(listed).toMatchObject({ connection: 'asana-7fq2', status: 'ACTIVE', account: ALICE_ASANA });
  });

  it('still verifies when the who-am-I tool fails, and pins the account on the next list', async () => {
    // Prepare
    const w = world();
    const { state, authRequestId } = await aliceConsented(w);
    w.accounts.failNext('execute');

    // Act
    const verified = await verify(w.deps, ALICE, 'asana', { authRequestId, state });
    const [listed] = await listConnections(w.deps, ALICE);

    // Assess
    expect(verified).toMatchObject({ status: 'ACTIVE', account: null });
    expect(listed).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA });
  });
});

describe('listConnections', () => {
  it('lists every configured connection with its live status and pinned account', async () => {
    // Prepare
    const w = connectionsWorld({ connections: ['asana', 'github'] });
    w.accounts.profiles.set(ALICE, ALICE_ASANA);
    w.accounts.setStatus(ALICE, 'ACTIVE');
    w.accounts.setStatus(ALICE, 'EXPIRED', 'github');

    // Act
    const views = await listConnections(w.deps, ALICE);

    // Assess
    const checkedAt = new Date(w.clock.now()).toISOString();
    expect(views).toEqual([
      { connection: 'asana', status: 'ACTIVE', account: ALICE_ASANA, checkedAt },
      { connection: 'github', status: 'EXPIRED', account: null, checkedAt },
    ]);
  });

  it('shows NOT_CONNECTED with no account for a user who never connected', async () => {
    // Prepare
    const w = world();

    // Act
    const [view] = await listConnections(w.deps, BOB);

    // Assess
    expect(view).toMatchObject({ connection: 'asana', status: 'NOT_CONNECTED', account: null });
  });

  it('answers from the registry when Scalekit fails', async () => {
    // Prepare
    const w = world();
    w.accounts.setStatus(ALICE, 'ACTIVE');
    const [live] = await listConnections(w.deps, ALICE);
    w.clock.advance(60_000);
    w.accounts.setStatus(ALICE, 'EXPIRED');
    w.accounts.failNext('get');

    // Act
    const [fallback] = await listConnections(w.deps, ALICE);

    // Assess
    expect(fallback).toEqual(live);
    expect(fallback).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA });
  });

  it('answers NOT_CONNECTED from an empty registry when Scalekit fails', async () => {
    // Prepare
    const w = world();
    w.accounts.failNext('get');

    // Act
    const [view] = await listConnections(w.deps, ALICE);

    // Assess
    expect(view).toEqual({ connection: 'asana', status: 'NOT_CONNECTED', account: null, checkedAt: null });
  });

  it('does not hide a bug behind the registry', async () => {
    // Prepare
    const w = world();
    w.accounts.failNext('get', new TypeError('bug'));

    // Act / Assess
    await expect(listConnections(w.deps, ALICE)).rejects.toThrow(TypeError);
  });

  it('records a status change in the registry, moving changedAt only when the status changed', async () => {
    // Prepare
    const w = world();
    w.accounts.setStatus(ALICE, 'ACTIVE');
    await listConnections(w.deps, ALICE);
    const first = await w.store.getEntry(ALICE, 'asana');
    w.clock.advance(1_000);
    await listConnections(w.deps, ALICE);
    const unchanged = await w.store.getEntry(ALICE, 'asana');
    w.clock.advance(1_000);
    w.accounts.setStatus(ALICE, 'EXPIRED');

    // Act
    await listConnections(w.deps, ALICE);

    // Assess
    const changed = await w.store.getEntry(ALICE, 'asana');
    expect(unchanged?.changedAt).toBe(first?.changedAt);
    expect(unchanged?.checkedAt).not.toBe(first?.checkedAt);
    expect(changed).toMatchObject({ status: 'EXPIRED', changedAt: new Date(w.clock.now()).toISOString() });
  });
});

describe('disconnect', () => {
  it("revokes the caller's account and forgets it, leaves others alone, and is harmless to repeat", async () => {
    // Prepare
    const w = world();
    w.accounts.setStatus(ALICE, 'ACTIVE');
    w.accounts.setStatus(BOB, 'ACTIVE');
    await listConnections(w.deps, ALICE);
    await listConnections(w.deps, BOB);

    // Act
    await disconnect(w.deps, ALICE, 'asana');
    await disconnect(w.deps, ALICE, 'asana');

    // Assess
    expect(w.accounts.statusOf(ALICE)).toBe('NOT_CONNECTED');
    expect(await w.store.getEntry(ALICE, 'asana')).toBeUndefined();
    expect(w.accounts.statusOf(BOB)).toBe('ACTIVE');
    expect((await w.store.getEntry(BOB, 'asana'))?.status).toBe('ACTIVE');
    expect(w.accounts.callsOf('delete').map((call) => call.identifier)).toEqual([ALICE, ALICE]);
  });
});

describe('checkConnectionStatuses', () => {
  /** Five users who connected through this deployment (each has a registry entry from its consent). */
  async function populated() {
    const w = world();
    const statuses: [string, Exclude<ConnectionStatus, 'NOT_CONNECTED'>][] = [
      ['u1', 'ACTIVE'],
      ['u2', 'ACTIVE'],
      ['u3', 'EXPIRED'],
      ['u4', 'PENDING_AUTH'],
      ['u5', 'DISCONNECTED'],
    ];
    const longAgo = '2026-01-01T00:00:00.000Z';
    for (const [sub, status] of statuses) {
      w.accounts.setStatus(sub, status);
      await w.store.putEntry(sub, { connection: 'asana', status: 'PENDING_VERIFICATION', checkedAt: longAgo, changedAt: longAgo });
    }
    w.accounts.pageSize = 2;
    return w;
  }

  it('records only identifiers of users who connected here, and counts the others without storing them', async () => {
    // Prepare: two accounts at Scalekit that never connected through this deployment.
    const w = await populated();
    w.accounts.setStatus('dashboard-test', 'ACTIVE');
    w.accounts.setStatus('other-app-user', 'EXPIRED');

    // Act
    const summary = await checkConnectionStatuses(w.deps);

    // Assess
    expect(summary).toMatchObject({ checked: 5, unknownIdentifiers: 2, changed: 5 });
    expect(summary.byStatus).toEqual({ ACTIVE: 2, EXPIRED: 1, PENDING_AUTH: 1, DISCONNECTED: 1 });
    expect(await w.store.getEntry('dashboard-test', 'asana')).toBeUndefined();
    expect(await w.store.getEntry('other-app-user', 'asana')).toBeUndefined();
    expect(await w.store.listEntries('dashboard-test')).toEqual([]);
  });

  it('pages through every account, records each status under its owner and counts per status', async () => {
    // Prepare
    const w = await populated();

    // Act
    const summary = await checkConnectionStatuses(w.deps, { concurrency: 1 });

    // Assess
    expect(w.accounts.callsOf('list')).toHaveLength(3);
    expect(summary).toMatchObject({
      checked: 5,
      unknownIdentifiers: 0,
      changed: 5,
      byStatus: { ACTIVE: 2, EXPIRED: 1, PENDING_AUTH: 1, DISCONNECTED: 1 },
    });
    expect((await w.store.getEntry('u3', 'asana'))?.status).toBe('EXPIRED');
    expect((await w.store.getEntry('u5', 'asana'))?.status).toBe('DISCONNECTED');
  });

  it('changes nothing when run again, and records only what changed since', async () => {
    // Prepare
    const w = await populated();
    await checkConnectionStatuses(w.deps);
    const before = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5'].map((sub) => w.store.getEntry(sub, 'asana')));
    const writesBefore = w.store.entryWrites;
    const attemptsBefore = w.store.statusWriteAttempts;
    w.clock.advance(3_600_000);

    // Act
    const again = await checkConnectionStatuses(w.deps);
    const after = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5'].map((sub) => w.store.getEntry(sub, 'asana')));
    w.accounts.setStatus('u1', 'EXPIRED');
    const third = await checkConnectionStatuses(w.deps);

    // Assess
    expect(again).toMatchObject({ checked: 5, changed: 0 });
    expect(after).toEqual(before);
    expect(w.store.entryWrites - writesBefore).toBe(1);
    // Unchanged accounts are not even attempted: only u1's move is written.
    expect(w.store.statusWriteAttempts - attemptsBefore).toBe(1);
    expect(third).toMatchObject({ checked: 5, changed: 1, byStatus: { ACTIVE: 1, EXPIRED: 2 } });
    expect(await w.store.getEntry('u1', 'asana')).toMatchObject({ status: 'EXPIRED', changedAt: new Date(w.clock.now()).toISOString() });
  });

  it('checks nothing when there are no accounts', async () => {
    // Prepare
    const w = world();

    // Act
    const summary = await checkConnectionStatuses(w.deps);

    // Assess
    expect(summary).toMatchObject({ checked: 0, unknownIdentifiers: 0, changed: 0, byStatus: {} });
  });
});

describe('unknown connections', () => {
  it.each([
    ['connect', (w: ReturnType<typeof world>) => connect(w.deps, ALICE, 'jira', undefined)],
    ['verify', (w: ReturnType<typeof world>) => verify(w.deps, ALICE, 'jira', { authRequestId: 'ar_1', state: 'state-1' })],
    ['disconnect', (w: ReturnType<typeof world>) => disconnect(w.deps, ALICE, 'jira')],
  ])('%s answers 404 unknown_connection without calling Scalekit', async (_name, act) => {
    // Prepare
    const w = world();

    // Act
    const error = await domainError(() => act(w));

    // Assess
    expect(error.code).toBe('unknown_connection');
    expect(w.accounts.calls).toHaveLength(0);
  });
});

describe('pinnedAccountOf', () => {
  it.each([
    { data: { data: { gid: '1', name: 'A', email: 'a@x' } }, expected: { gid: '1', name: 'A', email: 'a@x' } },
    { data: { gid: '1', name: 'A' }, expected: { gid: '1', name: 'A', email: '' } },
    { data: { data: { name: 'A' } }, expected: undefined },
    { data: [], expected: undefined },
    { data: 'text', expected: undefined },
    { data: null, expected: undefined },
  ])('reads $data as $expected', ({ data, expected }) => {
    // Prepare / Act
    const account = pinnedAccountOf(data);

    // Assess
    expect(account).toEqual(expected);
  });
});
