import { describe, expect, it } from 'vitest';
import { type AccountMatch, accountMatches, connect, listConnections, verify } from '../../functions/core/connections';
import { UpstreamError } from '../../functions/core/errors';
import { connectionsWorld, domainError } from '../fakes';

const ALICE = 'sub-alice';
const ALICE_TOKEN = 'token-of-alice';
const ALICE_ASANA = { gid: '1201', name: 'Alice Ng', email: 'alice@acme.test' };
const BOB_ASANA = { gid: '1202', name: 'Bob Ray', email: 'bob@acme.test' };
const EVE_ASANA = { gid: '1666', name: 'Eve', email: 'eve@elsewhere.test' };

/** Alice (Cognito email alice@acme.test) consents in Asana as `linked`; she holds a state and an auth request. */
async function aliceLinks(policy: AccountMatch, linked: typeof ALICE_ASANA | undefined, cognitoEmail: string | null = 'alice@acme.test') {
  const w = connectionsWorld({ accountMatch: policy });
  if (cognitoEmail !== null) w.users.emails.set(ALICE_TOKEN, cognitoEmail);
  if (linked) w.accounts.profiles.set(ALICE, linked);
  await connect(w.deps, ALICE, 'asana', undefined);
  const state = w.accounts.links.at(-1)!.state;
  const authRequestId = w.accounts.consent(ALICE);
  return { w, request: { authRequestId, state } };
}

describe('accountMatches', () => {
  it.each<[AccountMatch, string | undefined, string | undefined, boolean]>([
    ['off', undefined, undefined, true],
    ['email', 'alice@acme.test', 'alice@acme.test', true],
    ['email', 'Alice@ACME.test', ' alice@acme.TEST ', true],
    ['email', 'alice@acme.test', 'bob@acme.test', false],
    ['email', 'alice@acme.test', 'alice@acme.test.evil', false],
    ['email', 'alice@acme.test', '', false],
    ['email', undefined, 'alice@acme.test', false],
    ['domain', 'alice@acme.test', 'BOB@Acme.Test', true],
    ['domain', 'alice@acme.test', 'eve@elsewhere.test', false],
    ['domain', 'alice@acme.test', 'eve@sub.acme.test', false],
    ['domain', 'alice@acme.test', 'acme.test', false],
    ['domain', 'alice@acme.test', 'eve@', false],
    ['domain', '', '', false],
  ])('%s: caller %s, linked %s → %s', (policy, caller, linked, expected) => {
    expect(accountMatches(policy, caller, linked)).toBe(expected);
  });
});

describe('verify under the account policy', () => {
  it('email: Alice linking Bob’s Asana account gets 403 account_mismatch; the account is deleted and not shown', async () => {
    // Prepare
    const { w, request } = await aliceLinks('email', BOB_ASANA);

    // Act
    const error = await domainError(() => verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN));

    // Assess
    expect(error.code).toBe('account_mismatch');
    expect(error.message).not.toContain(BOB_ASANA.email);
    expect(w.users.reads).toEqual([ALICE_TOKEN]);
    expect(w.accounts.callsOf('delete')).toEqual([{ method: 'delete', identifier: ALICE, connection: 'asana' }]);
    expect(w.accounts.statusOf(ALICE)).toBe('NOT_CONNECTED');
    expect(await w.store.getEntry(ALICE, 'asana')).toBeUndefined();
    expect(await listConnections(w.deps, ALICE)).toEqual([
      { connection: 'asana', status: 'NOT_CONNECTED', account: null, checkedAt: null },
    ]);
  });

  it('email: a repeat of the refused verify answers account_mismatch again, with no upstream call', async () => {
    // Prepare
    const { w, request } = await aliceLinks('email', BOB_ASANA);
    await domainError(() => verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN));
    const calls = w.accounts.calls.length;
    const reads = w.users.reads.length;

    // Act
    const again = await domainError(() => verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN));

    // Assess
    expect(again.code).toBe('account_mismatch');
    expect(w.accounts.calls).toHaveLength(calls);
    expect(w.users.reads).toHaveLength(reads);
  });

  it('email: her own account (any letter case) is accepted and pinned', async () => {
    // Prepare
    const { w, request } = await aliceLinks('email', ALICE_ASANA, 'ALICE@Acme.Test');

    // Act
    const result = await verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN);

    // Assess
    expect(result).toMatchObject({ status: 'ACTIVE', account: ALICE_ASANA });
    expect(w.accounts.callsOf('delete')).toEqual([]);
  });

  it('domain: a colleague’s account of the same domain is accepted; another domain is refused', async () => {
    // Prepare
    const same = await aliceLinks('domain', BOB_ASANA);
    const other = await aliceLinks('domain', EVE_ASANA);

    // Act
    const accepted = await verify(same.w.deps, ALICE, 'asana', same.request, ALICE_TOKEN);
    const refused = await domainError(() => verify(other.w.deps, ALICE, 'asana', other.request, ALICE_TOKEN));

    // Assess
    expect(accepted.status).toBe('ACTIVE');
    expect(refused.code).toBe('account_mismatch');
    expect(other.w.accounts.statusOf(ALICE)).toBe('NOT_CONNECTED');
  });

  it.each<[string, typeof ALICE_ASANA | undefined, string | null]>([
    ['the linked account’s email cannot be read (who-am-I fails)', undefined, 'alice@acme.test'],
    ['the linked account has no email', { ...ALICE_ASANA, email: '' }, 'alice@acme.test'],
    ['the caller has no email in the user pool', ALICE_ASANA, null],
  ])('fails closed when %s', async (_name, linked, cognitoEmail) => {
    // Prepare
    const { w, request } = await aliceLinks('email', linked, cognitoEmail);

    // Act
    const error = await domainError(() => verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN));

    // Assess
    expect(error.code).toBe('account_mismatch');
    expect(w.accounts.statusOf(ALICE)).toBe('NOT_CONNECTED');
  });

  it('a user-pool outage answers its upstream error before Scalekit is asked, and the retry succeeds', async () => {
    // Prepare
    const { w, request } = await aliceLinks('email', ALICE_ASANA);
    w.users.failNext();

    // Act
    const failed = await domainError(() => verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN));
    const verifyCalls = w.accounts.callsOf('verify').length;
    const retried = await verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN);

    // Assess
    expect(failed).toBeInstanceOf(UpstreamError);
    expect(verifyCalls).toBe(0);
    expect(retried.status).toBe('ACTIVE');
  });

  it('when the deletion fails, answers the upstream error and records nothing as applied', async () => {
    // Prepare
    const { w, request } = await aliceLinks('email', BOB_ASANA);
    w.accounts.failNext('delete');

    // Act
    const error = await domainError(() => verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN));

    // Assess: no success recorded: the registry never saw the linked account as ACTIVE.
    expect(error).toBeInstanceOf(UpstreamError);
    const entry = await w.store.getEntry(ALICE, 'asana');
    expect(entry?.status).not.toBe('ACTIVE');
    expect(entry?.account).toBeUndefined();
  });

  it('off (the default): any account is accepted and the user pool is never asked', async () => {
    // Prepare
    const { w, request } = await aliceLinks('off', BOB_ASANA);

    // Act
    const result = await verify(w.deps, ALICE, 'asana', request, ALICE_TOKEN);

    // Assess
    expect(result).toMatchObject({ status: 'ACTIVE', account: BOB_ASANA });
    expect(w.users.reads).toEqual([]);
  });
});
