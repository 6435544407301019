import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { localDynamoClient } from '../../infra/local/dynamodb';
import { api, login } from '../support/auth';
import { connected, consent, person, VERIFY_URL } from '../support/connect';
import { control, cursor, executions, setAccountStatus } from '../support/standins';

// e2e over HTTP against the test stack (the same stack as `npm start`), real SDKs throughout.
const stack = inject('stack');
const subs = inject('subs');
const raw = localDynamoClient(stack.dynamodbUrl);
const db = DynamoDBDocumentClient.from(raw);
const scalekit = new ScalekitClient(stack.scalekit.environmentUrl, stack.scalekit.clientId, stack.scalekit.clientSecret);
afterAll(() => raw.destroy());

const registry = async (username: string) =>
  (
    await db.send(
      new GetCommand({ TableName: stack.tableName, Key: { pk: `USER#${subs[username]}`, sk: 'CONN#asana' }, ConsistentRead: true }),
    )
  ).Item;

const lastSeq = () => cursor(executions);

describe('connect and verify', () => {
  it('connects Alice to her own Asana account', async () => {
    // Prepare
    const { accessToken } = await login('alice');
    const alice = person('alice');
    // Act
    const started = await api('POST', '/connections/asana', { token: accessToken, body: { verifyUrl: VERIFY_URL } });
    if (started.body.status === 'ACTIVE') {
      // An earlier file connected her already: the answer then names her account.
      expect(started.body.account).toEqual({ name: alice.name, email: alice.email, gid: alice.asanaGid });
      return;
    }
    // Assess
    expect(started.status).toBe(200);
    expect(started.body).toEqual({
      connection: 'asana',
      status: 'PENDING_AUTH',
      authorizationUrl: expect.stringMatching(/^http:\/\//),
      expiresAt: expect.any(String),
    });
    expect(Date.parse(started.body.expiresAt)).toBeGreaterThan(Date.now());
    const params = await consent(accessToken, 'alice');
    const verified = await api('POST', '/connections/asana/verify', { token: accessToken, body: params });
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({
      connection: 'asana',
      status: 'ACTIVE',
      account: { name: alice.name, email: alice.email, gid: alice.asanaGid },
    });
    const list = await api('GET', '/connections', { token: accessToken });
    expect(list.body.connections).toEqual([
      { connection: 'asana', status: 'ACTIVE', account: verified.body.account, checkedAt: expect.any(String) },
    ]);
  });

  it('lists every configured connection, NOT_CONNECTED before any link', async () => {
    const { accessToken } = await login('ted');
    const list = await api('GET', '/connections', { token: accessToken });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ connections: [{ connection: 'asana', status: 'NOT_CONNECTED', account: null, checkedAt: null }] });
  });

  it("refuses a link made for someone else: the phished user's account stays theirs", async () => {
    // Prepare: Tess (the victim) makes a link and consents; Theo (the attacker) gets the landing URL.
    const victim = await login('tess');
    const attacker = await login('theo');
    const params = await consent(victim.accessToken, 'tess');
    // Act: Theo verifies it in his own session, with Tess's state and with a state of his own.
    const stolen = await api('POST', '/connections/asana/verify', { token: attacker.accessToken, body: params });
    const own = await api('POST', '/connections/asana', { token: attacker.accessToken, body: { verifyUrl: VERIFY_URL } });
    const ownState = new URL(own.body.authorizationUrl).searchParams.get('state');
    const mixed = await api('POST', '/connections/asana/verify', {
      token: attacker.accessToken,
      body: { authRequestId: params.authRequestId, state: ownState ?? 'x' },
    });
    // Assess
    expect(stolen.status).toBe(403);
    expect(stolen.body.error.code).toBe('verification_failed');
    expect(mixed.status).toBe(403);
    expect((await api('GET', '/connections', { token: attacker.accessToken })).body.connections[0].status).not.toBe('ACTIVE');
    expect((await api('GET', '/connections', { token: victim.accessToken })).body.connections[0].status).not.toBe('ACTIVE');
    const rightful = await api('POST', '/connections/asana/verify', { token: victim.accessToken, body: params });
    expect(rightful.status).toBe(200);
    expect(rightful.body.account.gid).toBe(person('tess').asanaGid);
    expect((await api('GET', '/connections', { token: attacker.accessToken })).body.connections[0].status).not.toBe('ACTIVE');
  });

  it('answers a repeat of a successful verify with the same body and no upstream call; other reuse is 403', async () => {
    const { accessToken } = await login('tina');
    const params = await consent(accessToken, 'tina');
    const first = await api('POST', '/connections/asana/verify', { token: accessToken, body: params });
    // Whatever happens to the connection in between, the repeat answers as the first time.
    await setAccountStatus(subs.tina!, 'EXPIRED');
    await api('GET', '/connections', { token: accessToken });
    const since = await lastSeq();
    const repeat = await api('POST', '/connections/asana/verify', { token: accessToken, body: params });
    expect(first.status).toBe(200);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(first.body);
    expect(await executions(since)).toEqual([]);
    const otherRequest = await api('POST', '/connections/asana/verify', {
      token: accessToken,
      body: { authRequestId: 'req_not_this_one', state: params.state },
    });
    expect(otherRequest.status).toBe(403);
  });

  it('refuses an expired state, and one never issued', async () => {
    const { accessToken } = await login('toby');
    const params = await consent(accessToken, 'toby');
    await db.send(
      new UpdateCommand({
        TableName: stack.tableName,
        Key: { pk: `USER#${subs.toby}`, sk: `STATE#${params.state}` },
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': Date.now() - 1000 },
      }),
    );
    const expired = await api('POST', '/connections/asana/verify', { token: accessToken, body: params });
    const invented = await api('POST', '/connections/asana/verify', { token: accessToken, body: { ...params, state: 'invented' } });
    expect(expired.status).toBe(403);
    expect(invented.status).toBe(403);
    expect((await registry('toby'))?.status).not.toBe('ACTIVE');
  });

  it('uses only the token: identity fields in the body are refused, in the query or headers ignored', async () => {
    const { accessToken } = await login('tara');
    for (const body of [
      { identifier: subs.alice },
      { userId: subs.alice },
      { sub: subs.alice },
      { verifyUrl: VERIFY_URL, identifier: 'x' },
    ]) {
      const response = await api('POST', '/connections/asana', { token: accessToken, body });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('validation_failed');
    }
    const verifyWithSub = await api('POST', '/connections/asana/verify', {
      token: accessToken,
      body: { authRequestId: 'a', state: 'b', sub: subs.alice },
    });
    expect(verifyWithSub.status).toBe(400);

    const since = await lastSeq();
    const started = await api('POST', `/connections/asana?identifier=${subs.alice}&userId=${subs.alice}`, {
      token: accessToken,
      body: { verifyUrl: VERIFY_URL },
      headers: { 'x-user-id': subs.alice!, 'x-identifier': subs.alice! },
    });
    expect(started.status).toBe(200);
    const landing = await import('../../client/consent').then(({ completeConsent }) =>
      completeConsent(started.body.authorizationUrl, { email: person('tara').email, password: person('tara').password }),
    );
    const verified = await api('POST', '/connections/asana/verify', {
      token: accessToken,
      body: { authRequestId: landing.searchParams.get('auth_request_id'), state: landing.searchParams.get('state') },
    });
    expect(verified.body.account.gid).toBe(person('tara').asanaGid);
    // The pinning call ran under Tara's own identifier (other files run concurrently, so the
    // log is filtered to this account), and Scalekit holds exactly one account for her.
    const calls = (await executions(since)).filter((call) => call.identifier === subs.tara);
    expect(calls.map((call) => call.toolName)).toContain('asana_me_get');
    const accounts = await scalekit.actions.listConnectedAccounts({ identifier: subs.tara!, connectionNames: ['asana'] });
    expect(accounts.connectedAccounts.map((account) => account.identifier)).toEqual([subs.tara]);
  });

  it.each([
    ['a remote verifyUrl', { verifyUrl: 'https://evil.test/cb' }],
    ['a userinfo trick', { verifyUrl: 'http://127.0.0.1@evil.test/cb' }],
    ['a javascript: URL', { verifyUrl: 'javascript:alert(1)' }],
    ['a number', { verifyUrl: 42 }],
  ])('refuses %s with 400', async (_name, body) => {
    const { accessToken } = await login('tom');
    const response = await api('POST', '/connections/asana', { token: accessToken, body });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
  });

  it('answers malformed JSON with 400 malformed_json and an unknown connection with 404', async () => {
    const { accessToken } = await login('tom');
    const malformed = await api('POST', '/connections/asana', {
      token: accessToken,
      rawBody: '{"verifyUrl": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('malformed_json');
    const notObject = await api('POST', '/connections/asana/verify', { token: accessToken, body: ['a'] });
    expect(notObject.status).toBe(400);
    const badBodyUnknown = await api('POST', '/connections/github', { token: accessToken, body: { verifyUrl: 42 } });
    expect(badBodyUnknown.status).toBe(404);
    for (const [method, path] of [
      ['POST', '/connections/github'],
      ['DELETE', '/connections/github'],
      ['POST', '/connections/github/verify'],
    ] as const) {
      const response = await api(method, path, { token: accessToken, body: method === 'POST' ? {} : undefined });
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('unknown_connection');
    }
  });
});

describe('revoke and status checks', () => {
  it('revokes one user without touching another, and repeating it is harmless', async () => {
    const tilda = await connected('tilda');
    const ted = await connected('ted');
    const removed = await api('DELETE', '/connections/asana', { token: tilda });
    expect(removed.status).toBe(204);
    expect((await api('DELETE', '/connections/asana', { token: tilda })).status).toBe(204);
    const tools = await scalekit.tools
      .listScopedTools(subs.tilda!, { filter: { connectionNames: ['asana'] } })
      .catch(() => ({ tools: [] }));
    expect(tools.tools).toEqual([]);
    expect((await api('GET', '/connections', { token: tilda })).body.connections[0].status).toBe('NOT_CONNECTED');
    expect(await registry('tilda')).toBeUndefined();
    const tedTools = await scalekit.tools.listScopedTools(subs.ted!, { filter: { connectionNames: ['asana'] } });
    expect(tedTools.tools.length).toBeGreaterThan(0);
    expect((await api('GET', '/connections', { token: ted })).body.connections[0].status).toBe('ACTIVE');
  });

  it('reflects an expiry after one scheduled run; a second run changes nothing', async () => {
    await connected('theo');
    const before = await registry('theo');
    expect(before?.status).toBe('ACTIVE');
    await setAccountStatus(subs.theo!, 'EXPIRED');
    const summary = await control().gateway.runConnectionStatus();
    expect(summary.checked).toBeGreaterThan(0);
    expect(summary.byStatus.EXPIRED).toBeGreaterThanOrEqual(1);
    const after = await registry('theo');
    expect(after?.status).toBe('EXPIRED');
    expect(after?.changedAt).not.toBe(before?.changedAt);
    await control().gateway.runConnectionStatus();
    const again = await registry('theo');
    expect(again).toEqual(after);
    // The user sees it too, with a fresh link on connect.
    const { accessToken } = await login('theo');
    const reconnect = await api('POST', '/connections/asana', { token: accessToken, body: { verifyUrl: VERIFY_URL } });
    expect(reconnect.body.status).toBe('EXPIRED');
    expect(reconnect.body.authorizationUrl).toEqual(expect.any(String));
  });
});
