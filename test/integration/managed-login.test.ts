import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LocalCognito, startCognito } from '../../infra/local/cognito';
import { api, login } from '../support/auth';

const stack = inject('stack');
const domain = stack.cognito.domain;
const consoleUrl = stack.consoleUrl;
const redirectUri = `${consoleUrl}/auth/callback`;
const alice = stack.users.find((user) => user.username === 'alice')!;

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

const authorizeUrl = (params: Record<string, string>, base = domain) =>
  `${base}/oauth2/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: stack.cognito.webClientId,
    redirect_uri: redirectUri,
    scope: 'openid email profile aws.cognito.signin.user.admin',
    state: 'st-1',
    code_challenge_method: 'S256',
    ...params,
  })}`;

const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
  redirect: 'manual' as const,
});

/** Signs in through the form; returns the code, the redirect and the session cookie. */
async function signIn(challenge: string, options: { base?: string; password?: string; redirect?: string } = {}) {
  const response = await fetch(
    authorizeUrl({ code_challenge: challenge, ...(options.redirect ? { redirect_uri: options.redirect } : {}) }, options.base),
    form({ username: 'alice', password: options.password ?? alice.password }),
  );
  const location = response.headers.get('location');
  const url = location ? new URL(location) : undefined;
  return { response, url, code: url?.searchParams.get('code') ?? '', cookie: (response.headers.get('set-cookie') ?? '').split(';')[0]! };
}

const token = (fields: Record<string, string>, headers: Record<string, string> = {}, base = domain) =>
  fetch(`${base}/oauth2/token`, { ...form(fields), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });

const redeem = (code: string, verifier: string, extra: Record<string, string> = {}, base = domain, clientId = stack.cognito.webClientId) =>
  token(
    { grant_type: 'authorization_code', client_id: clientId, code, code_verifier: verifier, redirect_uri: redirectUri, ...extra },
    {},
    base,
  );

describe('managed login: OpenID configuration', () => {
  it.each(['', `/${stack.cognito.userPoolId}`])('is served at %s/.well-known/openid-configuration', async (prefix) => {
    const response = await fetch(`${domain}${prefix}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const body: any = await response.json();
    expect(body).toMatchObject({
      issuer: `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`,
      authorization_endpoint: `${domain}/oauth2/authorize`,
      token_endpoint: `${domain}/oauth2/token`,
      end_session_endpoint: `${domain}/logout`,
      code_challenge_methods_supported: ['S256'],
    });
    expect(body.scopes_supported).toContain('aws.cognito.signin.user.admin');
  });
});

describe('managed login: /oauth2/authorize', () => {
  it('answers a page with one post form holding username, password and a submit button', async () => {
    const response = await fetch(authorizeUrl({ code_challenge: pkce().challenge }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html.match(/<form method="post">/g)).toHaveLength(1);
    expect(html).toMatch(/<input[^>]+name="username"/);
    expect(html).toMatch(/<input[^>]+name="password"[^>]+type="password"/);
    expect(html.match(/<button type="submit">/g)).toHaveLength(1);
  });

  it.each([
    ['an unknown client_id', { client_id: 'no-such-client' }],
    ['the native client (no managed login)', { client_id: stack.cognito.clientId }],
    ['an unregistered redirect_uri', { redirect_uri: 'https://evil.example/callback' }],
    ['a redirect_uri on another port', { redirect_uri: `${stack.apiUrl}/auth/callback` }],
  ])('answers %s with a 400 page, never a redirect', async (_, params) => {
    const response = await fetch(authorizeUrl({ code_challenge: pkce().challenge, ...params }), { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toMatch(/<h1>Sign-in error<\/h1>/);
  });

  it('answers a wrong password with 401 and the form again', async () => {
    const { response } = await signIn(pkce().challenge, { password: 'wrong' });
    expect(response.status).toBe(401);
    const html = await response.text();
    expect(html).toContain('Incorrect username or password.');
    expect(html).toMatch(/<input[^>]+name="password"/);
  });

  it('redirects a right password to redirect_uri with a code and the state', async () => {
    const { response, url } = await signIn(pkce().challenge);
    expect(response.status).toBe(302);
    expect(`${url!.origin}${url!.pathname}`).toBe(redirectUri);
    expect(url!.searchParams.get('state')).toBe('st-1');
    expect(url!.searchParams.get('code')).toMatch(/^[\w-]{20,}$/);
  });

  it('redirects a request without PKCE S256 with error=invalid_request', async () => {
    const response = await fetch(authorizeUrl({ code_challenge: pkce().challenge, code_challenge_method: 'plain' }), {
      redirect: 'manual',
    });
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });
});

describe('managed login: /oauth2/token', () => {
  it('exchanges a code and its verifier for tokens of the web client that the API accepts', async () => {
    const { verifier, challenge } = pkce();
    const { code } = await signIn(challenge);
    const response = await redeem(code, verifier);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body: any = await response.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: expect.any(Number) });
    const access = decodeJwt(body.access_token);
    expect(access).toMatchObject({ token_use: 'access', client_id: stack.cognito.webClientId, username: 'alice' });
    expect(String(access.scope).split(' ').sort()).toEqual(['aws.cognito.signin.user.admin', 'email', 'openid', 'profile']);
    expect(decodeJwt(body.id_token)).toMatchObject({ token_use: 'id', aud: stack.cognito.webClientId, email: alice.email });
    expect(body.refresh_token).toEqual(expect.any(String));

    // The gateway and the functions accept the web client's token, as they accept the native one's.
    const connections = await api('GET', '/connections', { token: body.access_token });
    expect(connections.status).toBe(200);
    const native = await login('alice');
    const nativeConnections = await api('GET', '/connections', { token: native.accessToken });
    expect(nativeConnections.status).toBe(200);
    const names = (body: any) => body.connections.map((entry: any) => [entry.connection, entry.status]);
    expect(names(nativeConnections.body)).toEqual(names(connections.body));
  });

  it('refuses an access token without the API scope at the functions', async () => {
    const { verifier, challenge } = pkce();
    const response = await fetch(
      authorizeUrl({ code_challenge: challenge, scope: 'openid email' }),
      form({ username: 'alice', password: alice.password }),
    );
    const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
    const body: any = await (await redeem(code, verifier)).json();
    expect(decodeJwt(body.access_token).scope).toBe('openid email');
    expect((await api('GET', '/connections', { token: body.access_token })).status).toBe(401);
  });

  it('answers invalid_grant to a wrong code_verifier, and the code is then spent', async () => {
    const { verifier, challenge } = pkce();
    const { code } = await signIn(challenge);
    const wrong = await redeem(code, pkce().verifier);
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({ error: 'invalid_grant' });
    expect(await (await redeem(code, verifier)).json()).toEqual({ error: 'invalid_grant' });
  });

  it('answers invalid_grant to a reused code', async () => {
    const { verifier, challenge } = pkce();
    const { code } = await signIn(challenge);
    expect((await redeem(code, verifier)).status).toBe(200);
    const again = await redeem(code, verifier);
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ error: 'invalid_grant' });
  });

  it('answers invalid_grant when redirect_uri differs from the authorize request', async () => {
    const { verifier, challenge } = pkce();
    const { code } = await signIn(challenge);
    const response = await redeem(code, verifier, { redirect_uri: `${consoleUrl}/elsewhere` });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'invalid_grant' });
  });

  it('answers invalid_client to an unknown client, and invalid_grant to another client of the pool', async () => {
    const { verifier, challenge } = pkce();
    const { code } = await signIn(challenge);
    const unknown = await redeem(code, verifier, {}, domain, 'no-such-client');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ error: 'invalid_client' });
    const other = await redeem(code, verifier, {}, domain, stack.cognito.clientId);
    expect(await other.json()).toEqual({ error: 'invalid_grant' });
  });

  it('renews with the refresh token (new access and ID tokens, same scopes, no new refresh token)', async () => {
    const { verifier, challenge } = pkce();
    const { code } = await signIn(challenge);
    const first: any = await (await redeem(code, verifier)).json();
    const response = await token({ grant_type: 'refresh_token', client_id: stack.cognito.webClientId, refresh_token: first.refresh_token });
    expect(response.status).toBe(200);
    const renewed: any = await response.json();
    expect(renewed.refresh_token).toBeUndefined();
    expect(renewed.access_token).not.toBe(first.access_token);
    expect(decodeJwt(renewed.access_token)).toMatchObject({
      client_id: stack.cognito.webClientId,
      scope: decodeJwt(first.access_token).scope,
    });
    expect((await api('GET', '/connections', { token: renewed.access_token })).status).toBe(200);

    const foreign = await token({ grant_type: 'refresh_token', client_id: stack.cognito.clientId, refresh_token: first.refresh_token });
    expect(await foreign.json()).toEqual({ error: 'invalid_grant' });
    const bogus = await token({ grant_type: 'refresh_token', client_id: stack.cognito.webClientId, refresh_token: 'nope' });
    expect(await bogus.json()).toEqual({ error: 'invalid_grant' });
  });

  it('answers unsupported_grant_type to any other grant', async () => {
    const response = await token({
      grant_type: 'password',
      client_id: stack.cognito.webClientId,
      username: 'alice',
      password: alice.password,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'unsupported_grant_type' });
  });

  it('answers CORS for the console origin only', async () => {
    const preflight = await fetch(`${domain}/oauth2/token`, {
      method: 'OPTIONS',
      headers: { origin: consoleUrl, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(consoleUrl);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');

    const fromConsole = await token(
      { grant_type: 'refresh_token', client_id: stack.cognito.webClientId, refresh_token: 'x' },
      { origin: consoleUrl },
    );
    expect(fromConsole.headers.get('access-control-allow-origin')).toBe(consoleUrl);
    const fromElsewhere = await token(
      { grant_type: 'refresh_token', client_id: stack.cognito.webClientId, refresh_token: 'x' },
      { origin: 'https://evil.example' },
    );
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('managed login: sessions and /logout', () => {
  it('skips the form while the login session lasts, and shows it again after logout', async () => {
    const { cookie } = await signIn(pkce().challenge);
    expect(cookie).toMatch(/^onbehalf_login=/);
    const again = await fetch(authorizeUrl({ code_challenge: pkce().challenge }), { headers: { cookie }, redirect: 'manual' });
    expect(again.status).toBe(302);
    expect(new URL(again.headers.get('location')!).searchParams.get('code')).toBeTruthy();

    const logoutUri = `${consoleUrl}/`;
    const logout = await fetch(`${domain}/logout?${new URLSearchParams({ client_id: stack.cognito.webClientId, logout_uri: logoutUri })}`, {
      headers: { cookie },
      redirect: 'manual',
    });
    expect(logout.status).toBe(302);
    expect(logout.headers.get('location')).toBe(logoutUri);
    const after = await fetch(authorizeUrl({ code_challenge: pkce().challenge }), { headers: { cookie }, redirect: 'manual' });
    expect(after.status).toBe(200);
    expect(await after.text()).toMatch(/name="password"/);
  });

  it.each([
    ['an unregistered logout_uri', { client_id: stack.cognito.webClientId, logout_uri: 'https://evil.example/' }],
    ['an unknown client', { client_id: 'no-such-client', logout_uri: `${consoleUrl}/` }],
  ])('answers %s with a 400 page', async (_, params) => {
    const response = await fetch(`${domain}/logout?${new URLSearchParams(params)}`, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });
});

describe('managed login: code lifetime', () => {
  let pool: LocalCognito;
  beforeAll(async () => {
    pool = await startCognito({ users: [alice], consoleUrl: () => consoleUrl, authorizationCodeTtlSeconds: 1 });
  });
  afterAll(() => pool.close());

  it('answers invalid_grant to an expired code', async () => {
    const { verifier, challenge } = pkce();
    const response = await fetch(
      `${pool.domain}/oauth2/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: pool.webClientId,
        redirect_uri: redirectUri,
        state: 's',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })}`,
      form({ username: 'alice', password: alice.password }),
    );
    const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const expired = await token(
      { grant_type: 'authorization_code', client_id: pool.webClientId, code, code_verifier: verifier, redirect_uri: redirectUri },
      {},
      pool.domain,
    );
    expect(expired.status).toBe(400);
    expect(await expired.json()).toEqual({ error: 'invalid_grant' });
  });
});
