import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { completeConsent, ConsentError } from '../../client/consent';
import { type AsanaEmulator, startAsana } from '../../infra/local/asana/server';
import { listen, type LocalService } from '../../infra/local/service';
import { loadWorld } from '../../infra/local/world';
import { asana, errorMessage, one, TEST_CLIENT } from '../support/asana';

const READ = 'users:read workspaces:read projects:read tasks:read stories:read';
const WRITE = `${READ} tasks:write stories:write`;
// Never fetched: the walker is told to stop there.
const REDIRECT_URI = 'http://127.0.0.1:9/asana/callback';
const TTL = 120;
const TEST_CLIENT_FIELDS = { client_id: TEST_CLIENT.clientId, client_secret: TEST_CLIENT.clientSecret };

const tokenResponse = z.strictObject({
  access_token: z.string().min(20),
  refresh_token: z.string().min(20),
  expires_in: z.number(),
  token_type: z.literal('bearer'),
  scope: z.string(),
  data: z.strictObject({ gid: z.string(), name: z.string(), email: z.string() }),
});

describe('Asana emulator OAuth (consent hops)', () => {
  let emulator: AsanaEmulator;

  beforeAll(async () => {
    emulator = await startAsana({ world: loadWorld(), oauthClients: [TEST_CLIENT], accessTokenTtlSeconds: TTL });
  });

  afterAll(async () => {
    await emulator.close();
  });

  const authorizeUrl = (params: Record<string, string> = {}): string =>
    `${emulator.url}/oauth/authorize?${new URLSearchParams({
      client_id: TEST_CLIENT.clientId,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      state: 'st-1',
      scope: 'default',
      ...params,
    })}`;

  const atCallback = (url: URL): boolean => url.pathname === '/asana/callback';

  const tokenRequest = async (fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${emulator.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });

  const exchange = async (code: string, extra: Record<string, string> = {}): Promise<Response> =>
    tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, ...TEST_CLIENT_FIELDS, ...extra });

  const consentCode = async (
    email: string,
    password: string,
    scope: 'read' | 'write' = 'write',
    params: Record<string, string> = {},
  ): Promise<string> => {
    const callback = await completeConsent(authorizeUrl(params), { email, password, scope, stopAt: atCallback });
    return callback.searchParams.get('code') ?? '';
  };

  const tokensFor = async (email: string, password: string, scope: 'read' | 'write' = 'write'): Promise<z.infer<typeof tokenResponse>> => {
    const response = await exchange(await consentCode(email, password, scope));
    expect(response.status).toBe(200);
    return tokenResponse.parse(await response.json());
  };

  describe('GET /oauth/authorize', () => {
    it('answers one form posting to /oauth/authorize, carrying the query (escaped) except scope', async () => {
      // Act
      const response = await fetch(authorizeUrl({ state: 'a"b<c>&d' }), { redirect: 'manual' });
      const html = await response.text();

      // Assess
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(html.match(/<form\b/g)).toHaveLength(1);
      expect(html).toContain('<form method="post" action="/oauth/authorize">');
      expect(html).toContain(`<input type="hidden" name="client_id" value="${TEST_CLIENT.clientId}">`);
      expect(html).toContain(`<input type="hidden" name="redirect_uri" value="${REDIRECT_URI}">`);
      expect(html).toContain('<input type="hidden" name="response_type" value="code">');
      expect(html).toContain('<input type="hidden" name="state" value="a&#34;b&#60;c&#62;&#38;d">');
      expect(html).not.toContain('a"b<c>');
      expect(html).not.toMatch(/type="hidden" name="scope"/);
      expect(html).toMatch(/<input type="email" name="email"/);
      expect(html).toMatch(/<input type="password" name="password"/);
      expect(html).toContain(`<input type="radio" name="scope" value="${READ}">`);
      expect(html).toContain(`<input type="radio" name="scope" value="${WRITE}" checked>`);
    });

    it.each([
      ['an unknown client_id', { client_id: 'nobody' }],
      ['a missing redirect_uri', { redirect_uri: '' }],
      ['response_type other than code', { response_type: 'token' }],
    ])('refuses %s with 400', async (_what, params) => {
      const response = await fetch(authorizeUrl(params), { redirect: 'manual' });

      expect(response.status).toBe(400);
      expect(await response.text()).not.toContain('<form');
    });
  });

  describe('POST /oauth/authorize', () => {
    const post = (fields: Record<string, string>): Promise<Response> =>
      fetch(`${emulator.url}/oauth/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: TEST_CLIENT.clientId,
          redirect_uri: REDIRECT_URI,
          response_type: 'code',
          state: 'st-9',
          scope: WRITE,
          ...fields,
        }).toString(),
      });

    it('redirects to redirect_uri with a code and the state for a right password', async () => {
      // Act
      const response = await post({ email: 'alice@acme.test', password: 'Alice-pass-1' });

      // Assess
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get('location') ?? '');
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
      expect(location.searchParams.get('state')).toBe('st-9');
      expect(location.searchParams.get('code')).toMatch(/^\S{20,}$/);
    });

    it.each([
      ['a wrong password', { email: 'alice@acme.test', password: 'Bob-pass-1' }],
      ['an unknown email', { email: 'mallory@acme.test', password: 'Alice-pass-1' }],
      ['an Asana-only account (no password)', { email: 'bot@acme.test', password: '' }],
    ])('answers 401 with the form again for %s', async (_what, fields) => {
      // Act
      const response = await post(fields);
      const html = await response.text();

      // Assess
      expect(response.status).toBe(401);
      expect(response.headers.get('location')).toBeNull();
      expect(html.match(/<form method="post" action="\/oauth\/authorize">/g)).toHaveLength(1);
      expect(html).toContain('<input type="hidden" name="state" value="st-9">');
      expect(html).toContain(`name="email" value="${fields.email}"`);
      expect(html).not.toMatch(/name="password" value=/);
    });
  });

  describe('the consent walker with the token endpoint', () => {
    it('grants read-write: the token answers as the user and can write', async () => {
      // Act
      const tokens = await tokensFor('alice@acme.test', 'Alice-pass-1');
      const me = await asana(emulator.url, tokens.access_token, 'GET', '/users/me');
      const comment = await asana(emulator.url, tokens.access_token, 'POST', '/tasks/1403/stories', { data: { text: 'from consent' } });

      // Assess
      expect(tokens.data).toEqual({ gid: '1201', name: 'Alice Ng', email: 'alice@acme.test' });
      expect(tokens.expires_in).toBe(TTL);
      expect(tokens.scope).toBe(WRITE);
      expect(one(me).gid).toBe('1201');
      expect(comment.status).toBe(201);
    });

    it('grants read-only: the token reads but every write is 403', async () => {
      // Act
      const tokens = await tokensFor('bob@acme.test', 'Bob-pass-1', 'read');
      const read = await asana(emulator.url, tokens.access_token, 'GET', '/projects/1301/tasks');
      const write = await asana(emulator.url, tokens.access_token, 'POST', '/tasks', { data: { name: 'nope', projects: ['1301'] } });

      // Assess
      expect(tokens.scope).toBe(READ);
      expect(read.status).toBe(200);
      expect(write.status).toBe(403);
      expect(errorMessage(write)).toContain('tasks:write');
    });

    it('throws a ConsentError carrying 401 and the form for a wrong password', async () => {
      const attempt = completeConsent(authorizeUrl(), { email: 'bob@acme.test', password: 'wrong-password', stopAt: atCallback });

      await expect(attempt).rejects.toBeInstanceOf(ConsentError);
      await expect(attempt).rejects.toMatchObject({ status: 401, body: expect.stringContaining('<form') });
    });

    it('follows 302 hops before and after the form and stops at auth_request_id without fetching it', async () => {
      // Prepare: a stand-in for the hops around Asana (Scalekit's redirects and the verify URL)
      const hits: string[] = [];
      const hops = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://hops');
        hits.push(url.pathname);
        const location =
          url.pathname === '/start'
            ? authorizeUrl({ redirect_uri: `${service.url}/callback`, state: 'hop-state' })
            : `/verify?auth_request_id=ar_1&state=${url.searchParams.get('state') ?? ''}`;
        res.writeHead(302, { location }).end();
      });
      const service: LocalService = await listen(hops);

      try {
        // Act
        const end = await completeConsent(`${service.url}/start`, { email: 'alice@acme.test', password: 'Alice-pass-1' });

        // Assess
        expect(end.pathname).toBe('/verify');
        expect(end.searchParams.get('auth_request_id')).toBe('ar_1');
        expect(end.searchParams.get('state')).toBe('hop-state');
        expect(hits).toEqual(['/start', '/callback']);
      } finally {
        await service.close();
      }
    });

    it('refuses a code the second time and revokes what the first exchange granted', async () => {
      // Prepare
      const code = await consentCode('alice@acme.test', 'Alice-pass-1');
      const first = tokenResponse.parse(await (await exchange(code)).json());

      // Act
      const second = await exchange(code);
      const afterReplay = await asana(emulator.url, first.access_token, 'GET', '/users/me');

      // Assess
      expect(second.status).toBe(400);
      expect(await second.json()).toMatchObject({ error: 'invalid_grant' });
      expect(afterReplay.status).toBe(401);
    });

    it('refuses a code with another redirect_uri or to a client with a wrong secret', async () => {
      // Prepare
      const code = await consentCode('alice@acme.test', 'Alice-pass-1');

      // Act
      const otherRedirect = await exchange(code, { redirect_uri: 'http://127.0.0.1:9/elsewhere' });
      const wrongSecret = await exchange(code, { client_secret: 'guess' });
      const good = await exchange(code);

      // Assess
      expect(otherRedirect.status).toBe(400);
      expect(await otherRedirect.json()).toMatchObject({ error: 'invalid_grant' });
      expect(wrongSecret.status).toBe(401);
      expect(await wrongSecret.json()).toMatchObject({ error: 'invalid_client' });
      expect(good.status).toBe(200);
    });

    it('accepts client credentials by HTTP Basic', async () => {
      // Prepare
      const code = await consentCode('bob@acme.test', 'Bob-pass-1');
      const basic = Buffer.from(`${TEST_CLIENT.clientId}:${TEST_CLIENT.clientSecret}`).toString('base64');

      // Act
      const response = await tokenRequest(
        { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI },
        { authorization: `Basic ${basic}` },
      );

      // Assess
      expect(response.status).toBe(200);
      expect(tokenResponse.parse(await response.json()).data.gid).toBe('1202');
    });

    it('checks the PKCE verifier when the authorization carried a challenge', async () => {
      // Prepare
      const verifier = 'v'.repeat(50);
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const code = await consentCode('alice@acme.test', 'Alice-pass-1', 'write', {
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });

      // Act
      const wrong = await exchange(code, { code_verifier: 'w'.repeat(50) });
      const right = await exchange(code, { code_verifier: verifier });

      // Assess
      expect(wrong.status).toBe(400);
      expect(right.status).toBe(200);
    });
  });

  describe('expiry, refresh and revocation', () => {
    it('refuses an expired access token with 401 and a refreshed one works again', async () => {
      // Prepare
      const tokens = await tokensFor('bob@acme.test', 'Bob-pass-1');
      expect((await asana(emulator.url, tokens.access_token, 'GET', '/users/me')).status).toBe(200);

      // Act
      const expired = emulator.expireAccessTokens('1202');
      const refused = await asana(emulator.url, tokens.access_token, 'GET', '/users/me');
      const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...TEST_CLIENT_FIELDS });
      const fresh = tokenResponse.parse(await refreshed.json());
      const again = await asana(emulator.url, fresh.access_token, 'GET', '/users/me');

      // Assess
      expect(expired).toBeGreaterThanOrEqual(1);
      expect(refused.status).toBe(401);
      expect(errorMessage(refused)).toMatch(/expired/);
      expect(refreshed.status).toBe(200);
      expect(fresh.access_token).not.toBe(tokens.access_token);
      expect(fresh.data.gid).toBe('1202');
      expect(one(again).gid).toBe('1202');
    });

    it('expires access tokens on their own after accessTokenTtlSeconds', async () => {
      // Prepare: a second emulator whose tokens live 0.3 s
      const shortLived = await startAsana({ world: loadWorld(), oauthClients: [TEST_CLIENT], accessTokenTtlSeconds: 0.3 });
      try {
        const { accessToken } = shortLived.issueTokenFor('1201');
        const before = await asana(shortLived.url, accessToken, 'GET', '/users/me');

        // Act
        await new Promise((resolve) => setTimeout(resolve, 400));
        const after = await asana(shortLived.url, accessToken, 'GET', '/users/me');

        // Assess
        expect(before.status).toBe(200);
        expect(after.status).toBe(401);
      } finally {
        await shortLived.close();
      }
    });

    it('revokes the whole grant by its refresh token: access and refresh both stop working', async () => {
      // Prepare
      const tokens = await tokensFor('alice@acme.test', 'Alice-pass-1');

      // Act
      const revoked = await fetch(`${emulator.url}/oauth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.refresh_token, ...TEST_CLIENT_FIELDS }).toString(),
      });
      const api = await asana(emulator.url, tokens.access_token, 'GET', '/users/me');
      const refresh = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...TEST_CLIENT_FIELDS });

      // Assess
      expect(revoked.status).toBe(200);
      expect(api.status).toBe(401);
      expect(refresh.status).toBe(400);
      expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });
    });

    it('revokes by access token too, and refuses an unsupported grant type', async () => {
      // Prepare
      const tokens = await tokensFor('bob@acme.test', 'Bob-pass-1');

      // Act
      await fetch(`${emulator.url}/oauth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.access_token, ...TEST_CLIENT_FIELDS }).toString(),
      });
      const refresh = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, ...TEST_CLIENT_FIELDS });
      const password = await tokenRequest({ grant_type: 'password', ...TEST_CLIENT_FIELDS });

      // Assess
      expect(refresh.status).toBe(400);
      expect(password.status).toBe(400);
      expect(await password.json()).toMatchObject({ error: 'unsupported_grant_type' });
    });
  });
});
