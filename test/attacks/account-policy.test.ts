import { CognitoIdentityProviderClient, GetUserCommand } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { completeConsent } from '../../client/consent';
import { api, login } from '../support/auth';
import { person, VERIFY_URL } from '../support/connect';
import { ownStack } from '../support/own-stack';
import { cursor, scalekitControl } from '../stack/control';

/**
 * A user links someone else's Asana account (a shared browser, a colleague's session, or on
 * purpose): under `ONBEHALF_ACCOUNT_MATCH=email` the verify is refused and the account never
 * stays ACTIVE. The caller's email is read from the real local user pool with `GetUser` and her
 * own access token; the functions run in this worker behind a gateway of this file's own, with
 * a Scalekit and Asana of its own.
 */
const stack = inject('stack');
const CALLER = 'tove';
const OTHER = 'tuva';

let own: Awaited<ReturnType<typeof ownStack>>;
let token: string;

beforeAll(async () => {
  own = await ownStack({ env: { ONBEHALF_ACCOUNT_MATCH: 'email' } });
  token = (await login(CALLER)).accessToken;
});

afterAll(async () => {
  await own?.close();
});

const call = (method: string, path: string, body?: unknown) => api(method, path, { token, body, apiUrl: own.apiUrl });

/** Starts a link for the caller and consents in Asana as `asanaUser`. */
async function consentAs(asanaUser: string): Promise<{ authRequestId: string; state: string }> {
  const started = await call('POST', '/connections/asana', { verifyUrl: VERIFY_URL });
  expect(started.body.authorizationUrl).toEqual(expect.stringMatching(/^http/));
  const who = person(asanaUser);
  const landing = await completeConsent(started.body.authorizationUrl, { email: who.email, password: who.password });
  return { authRequestId: landing.searchParams.get('auth_request_id')!, state: landing.searchParams.get('state')! };
}

/** Every RPC the Scalekit emulator has received since `since`. */
const rpcsSince = (since: number) => scalekitControl(own.scalekit.url).rpcs(since);

describe('account policy: email', { timeout: 60_000 }, () => {
  it('refuses another person’s Asana account with 403 account_mismatch; the connection is not ACTIVE', async () => {
    // Prepare
    const params = await consentAs(OTHER);
    const start = await cursor(() => rpcsSince(0));

    // Act
    const refused = await call('POST', '/connections/asana/verify', params);
    const verifyRpcs = (await rpcsSince(start)).map((rpc) => rpc.rpc);
    const listed = await call('GET', '/connections');

    // Assess
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('account_mismatch');
    expect(JSON.stringify(refused.body)).not.toContain(person(OTHER).email);
    // Verified once, then the account deleted at Scalekit.
    expect(verifyRpcs.filter((rpc) => rpc === 'VerifyConnectedAccountUser')).toHaveLength(1);
    expect(verifyRpcs.at(-1)).toBe('DeleteConnectedAccount');
    expect(listed.status).toBe(200);
    expect(listed.body.connections).toEqual([{ connection: 'asana', status: 'NOT_CONNECTED', account: null, checkedAt: null }]);

    // Act: the same verify again.
    const before = await cursor(() => rpcsSince(0));
    const again = await call('POST', '/connections/asana/verify', params);

    // Assess: the same refusal, and Scalekit was not called at all.
    expect(again.status).toBe(403);
    expect(again.body.error.code).toBe('account_mismatch');
    expect(await rpcsSince(before)).toEqual([]);
    expect((await call('GET', '/connections')).body.connections[0].status).toBe('NOT_CONNECTED');
  });

  it('then accepts the caller’s own Asana account', async () => {
    // Prepare
    const params = await consentAs(CALLER);

    // Act
    const verified = await call('POST', '/connections/asana/verify', params);

    // Assess
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({
      status: 'ACTIVE',
      account: { gid: person(CALLER).asanaGid, email: person(CALLER).email },
    });
  });
});

describe('GetUser on the local user pool', () => {
  const client = () =>
    new CognitoIdentityProviderClient({
      endpoint: stack.cognito.endpoint,
      region: stack.cognito.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });

  it('answers the caller’s own email for her access token, and refuses an ID token', async () => {
    // Prepare
    const cognito = client();
    const tokens = await login(CALLER);
    try {
      // Act
      const user = await cognito.send(new GetUserCommand({ AccessToken: tokens.accessToken }));
      const withIdToken = cognito.send(new GetUserCommand({ AccessToken: tokens.idToken }));
      // Assess
      expect(user.Username).toBe(CALLER);
      expect(user.UserAttributes).toContainEqual({ Name: 'email', Value: person(CALLER).email });
      await expect(withIdToken).rejects.toMatchObject({ name: 'NotAuthorizedException' });
    } finally {
      cognito.destroy();
    }
  });
});
