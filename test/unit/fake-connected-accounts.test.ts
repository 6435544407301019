/**
 * The Scalekit fake holds its port's contract (as the Scalekit adapter does), so the other unit
 * tests' refusals are real ones. The store fakes are held to the contract suites in
 * `test/contracts/` instead, run against both the fakes and the DynamoDB adapters.
 */
import { describe, expect, it } from 'vitest';
import { FakeConnectedAccounts } from '../fakes';

describe('FakeConnectedAccounts', () => {
  it('verifies an auth request only for the identifier that consented, once', async () => {
    // Prepare
    const accounts = new FakeConnectedAccounts();
    const request = accounts.consent('alice');

    // Act
    const byBob = await accounts.verify('bob', request);
    const byAlice = await accounts.verify('alice', request);
    const replay = await accounts.verify('alice', request);

    // Assess
    expect([byBob, byAlice, replay]).toEqual(['refused', 'verified', 'refused']);
    expect(accounts.statusOf('alice')).toBe('ACTIVE');
    expect(accounts.statusOf('bob')).toBe('NOT_CONNECTED');
  });

  it('executes only for an ACTIVE account, and logs only what ran', async () => {
    // Prepare
    const accounts = new FakeConnectedAccounts();
    accounts.setStatus('alice', 'EXPIRED');

    // Act
    const refused = await accounts.execute('alice', 'asana', 'asana_tasks_list', {});
    accounts.setStatus('alice', 'ACTIVE');
    const ran = await accounts.execute('alice', 'asana', 'asana_tasks_list', {});

    // Assess
    expect(refused.kind).toBe('not_authorized');
    expect(ran.kind).toBe('succeeded');
    expect(accounts.executions).toHaveLength(1);
  });
});
