import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from './service';

/** The scopes the web console's app client may ask for (Cognito's managed-login scopes). */
export const MANAGED_LOGIN_SCOPES = ['openid', 'email', 'profile', 'aws.cognito.signin.user.admin'] as const;

const SESSION_COOKIE = 'onbehalf_login';

export interface ManagedLoginOptions {
  issuer(): string;
  domain(): string;
  jwksUri(): string;
  /** The only client with managed login enabled: public, authorization code + PKCE. */
  webClientId: string;
  /** Every client of the pool (an unknown `client_id` is `invalid_client`, a known one without managed login a `400` page). */
  clients: ReadonlySet<string>;
  /** How long an authorization code can be redeemed. */
  codeTtlMs: number;
  /** The console's origin: callback and logout URIs must lie under it; CORS is answered for it. */
  consoleUrl(): string | undefined;
  authenticate(username: string, password: string): { username: string } | undefined;
  issueTokens(
    username: string,
    clientId: string,
    grant: { scope: string; nonce?: string },
  ): Promise<{ accessToken: string; idToken: string; expiresIn: number } | undefined>;
  newRefreshToken(username: string, clientId: string, scope: string): string;
  refreshGrant(refreshToken: string): { username: string; clientId: string; scope?: string } | undefined;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  username: string;
  codeChallenge: string;
  scope: string;
  nonce?: string;
  expiresAt: number;
}

/** What `/oauth2/authorize` was asked for, once the client and redirect URI are known to be good. */
interface AuthorizeRequest {
  clientId: string;
  redirectUri: string;
  state: string | null;
  scope: string;
  codeChallenge: string;
  nonce?: string;
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The local stand-in for a Cognito user pool domain with managed login, as the web console uses
 * it: the sign-in form at `/oauth2/authorize`, `/oauth2/token` (authorization code with PKCE S256,
 * refresh token), `/logout`, and the OpenID configuration. Errors are Cognito's: a bad client or
 * redirect URI is a `400` page (never a redirect), token errors are `400 {"error": …}`.
 */
export function createManagedLogin(options: ManagedLoginOptions) {
  const codes = new Map<string, AuthorizationCode>();
  const sessions = new Map<string, string>();

  const consoleOrigin = (): string | undefined => {
    const url = options.consoleUrl();
    return url ? new URL(url).origin : undefined;
  };
  /** Registered callback and logout URIs: any URL on the console's origin. */
  const isRegistered = (uri: string | null): uri is string => {
    const origin = consoleOrigin();
    if (!uri || !origin) return false;
    try {
      const parsed = new URL(uri);
      return parsed.origin === origin && parsed.hash === '' && !parsed.username && !parsed.password;
    } catch {
      return false;
    }
  };

  const page = (res: ServerResponse, status: number, title: string, body: string) => {
    const origin = consoleOrigin();
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${origin ? ` ${origin}` : ''}; frame-ancestors 'none'; base-uri 'none'`,
    });
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)}</title><style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}` +
        `label{display:block;margin:.75rem 0 .25rem}input{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}` +
        `button{margin-top:1rem;padding:.5rem 1.25rem;font:inherit;background:#1d4ed8;color:#fff;border:0;border-radius:4px}` +
        `.error{color:#a11}</style></head><body><main>${body}</main></body></html>`,
    );
  };
  const badRequestPage = (res: ServerResponse, message: string) =>
    page(res, 400, 'Sign-in error', `<h1>Sign-in error</h1><p>${escapeHtml(message)}</p>`);
  const loginForm = (res: ServerResponse, status: number, error?: string) =>
    page(
      res,
      status,
      'Sign in',
      `<h1>Sign in</h1>${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}` +
        `<form method="post"><label for="username">Username</label><input id="username" name="username" autocomplete="username" required>` +
        `<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>` +
        `<button type="submit">Sign in</button></form>`,
    );
  const redirect = (res: ServerResponse, location: string, headers: Record<string, string | string[]> = {}) => {
    res.writeHead(302, { location, 'cache-control': 'no-store', ...headers });
    res.end();
  };
  const withParams = (uri: string, params: Record<string, string | null>) => {
    const url = new URL(uri);
    for (const [key, value] of Object.entries(params)) if (value !== null) url.searchParams.set(key, value);
    return url.toString();
  };

  /** Checks the authorize query; answers the error itself (page or redirect) and returns undefined when it is bad. */
  const readAuthorize = (url: URL, res: ServerResponse): AuthorizeRequest | undefined => {
    const q = url.searchParams;
    const clientId = q.get('client_id') ?? '';
    if (!options.clients.has(clientId)) return void badRequestPage(res, 'The app client does not exist.');
    const redirectUri = q.get('redirect_uri');
    if (clientId !== options.webClientId || !isRegistered(redirectUri)) {
      return void badRequestPage(res, 'The redirect_uri is not registered for this app client.');
    }
    const state = q.get('state');
    const fail = (error: string) => void redirect(res, withParams(redirectUri, { error, state }));
    if (q.get('response_type') !== 'code') return fail('unsupported_response_type');
    const codeChallenge = q.get('code_challenge') ?? '';
    if (q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) return fail('invalid_request');
    const requested = (q.get('scope') ?? '').split(/\s+/).filter(Boolean);
    if (requested.some((scope) => !(MANAGED_LOGIN_SCOPES as readonly string[]).includes(scope))) return fail('invalid_scope');
    const scope = (requested.length ? [...new Set(requested)] : [...MANAGED_LOGIN_SCOPES]).join(' ');
    const nonce = q.get('nonce') ?? undefined;
    return { clientId, redirectUri, state, scope, codeChallenge, nonce };
  };

  const issueCode = (res: ServerResponse, request: AuthorizeRequest, username: string, headers: Record<string, string> = {}) => {
    const code = randomBytes(32).toString('base64url');
    codes.set(code, {
      clientId: request.clientId,
      redirectUri: request.redirectUri,
      username,
      codeChallenge: request.codeChallenge,
      scope: request.scope,
      nonce: request.nonce,
      expiresAt: Date.now() + options.codeTtlMs,
    });
    redirect(res, withParams(request.redirectUri, { code, state: request.state }), headers);
  };

  const sessionOf = (req: IncomingMessage): string | undefined => {
    const cookie = (req.headers.cookie ?? '').split(/;\s*/).find((part) => part.startsWith(`${SESSION_COOKIE}=`));
    return cookie ? cookie.slice(SESSION_COOKIE.length + 1) : undefined;
  };

  const corsHeaders = (req: IncomingMessage): Record<string, string> => {
    const origin = consoleOrigin();
    return origin && req.headers.origin === origin ? { 'access-control-allow-origin': origin, vary: 'Origin' } : { vary: 'Origin' };
  };
  const tokenError = (req: IncomingMessage, res: ServerResponse, error: string) =>
    sendJson(res, 400, { error }, { 'cache-control': 'no-store', ...corsHeaders(req) });

  const token = async (req: IncomingMessage, res: ServerResponse) => {
    const form = new URLSearchParams(await readBody(req, 64 * 1024));
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const clientId = form.get('client_id') ?? (basic ? (Buffer.from(basic, 'base64').toString('utf8').split(':')[0] ?? '') : '');
    if (!options.clients.has(clientId)) return tokenError(req, res, 'invalid_client');
    let grant: { username: string; scope: string; nonce?: string; refresh: boolean };
    if (form.get('grant_type') === 'authorization_code') {
      const code = form.get('code') ?? '';
      const stored = codes.get(code);
      codes.delete(code);
      const verifier = form.get('code_verifier') ?? '';
      if (
        !stored ||
        stored.expiresAt <= Date.now() ||
        stored.clientId !== clientId ||
        stored.redirectUri !== form.get('redirect_uri') ||
        createHash('sha256').update(verifier).digest('base64url') !== stored.codeChallenge
      ) {
        return tokenError(req, res, 'invalid_grant');
      }
      grant = { username: stored.username, scope: stored.scope, nonce: stored.nonce, refresh: true };
    } else if (form.get('grant_type') === 'refresh_token') {
      const stored = options.refreshGrant(form.get('refresh_token') ?? '');
      if (!stored || stored.clientId !== clientId) return tokenError(req, res, 'invalid_grant');
      grant = { username: stored.username, scope: stored.scope ?? MANAGED_LOGIN_SCOPES.join(' '), refresh: false };
    } else {
      return tokenError(req, res, 'unsupported_grant_type');
    }
    const tokens = await options.issueTokens(grant.username, clientId, { scope: grant.scope, nonce: grant.nonce });
    if (!tokens) return tokenError(req, res, 'invalid_grant');
    sendJson(
      res,
      200,
      {
        access_token: tokens.accessToken,
        id_token: tokens.idToken,
        ...(grant.refresh ? { refresh_token: options.newRefreshToken(grant.username, clientId, grant.scope) } : {}),
        token_type: 'Bearer',
        expires_in: tokens.expiresIn,
      },
      { 'cache-control': 'no-store', pragma: 'no-cache', ...corsHeaders(req) },
    );
  };

  const openidConfiguration = () => ({
    issuer: options.issuer(),
    authorization_endpoint: `${options.domain()}/oauth2/authorize`,
    token_endpoint: `${options.domain()}/oauth2/token`,
    end_session_endpoint: `${options.domain()}/logout`,
    jwks_uri: options.jwksUri(),
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: [...MANAGED_LOGIN_SCOPES],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
  });

  /** Serves a managed-login request; false when the path is not one of them. */
  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (method === 'GET' && (path === '/.well-known/openid-configuration' || path.endsWith('/.well-known/openid-configuration'))) {
      if (
        path !== '/.well-known/openid-configuration' &&
        path !== `${new URL(options.issuer()).pathname}/.well-known/openid-configuration`
      ) {
        return false;
      }
      sendJson(res, 200, openidConfiguration(), { 'access-control-allow-origin': '*' });
      return true;
    }
    if (path === '/oauth2/authorize' && (method === 'GET' || method === 'POST')) {
      const request = readAuthorize(url, res);
      if (!request) return true;
      if (method === 'GET') {
        const session = sessionOf(req);
        const username = session ? sessions.get(session) : undefined;
        if (username) issueCode(res, request, username);
        else loginForm(res, 200);
        return true;
      }
      const form = new URLSearchParams(await readBody(req, 64 * 1024));
      const user = options.authenticate(form.get('username') ?? '', form.get('password') ?? '');
      if (!user) {
        loginForm(res, 401, 'Incorrect username or password.');
        return true;
      }
      const session = randomBytes(32).toString('base64url');
      sessions.set(session, user.username);
      issueCode(res, request, user.username, { 'set-cookie': `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Lax` });
      return true;
    }
    if (path === '/oauth2/token') {
      if (method === 'OPTIONS') {
        res.writeHead(204, {
          ...corsHeaders(req),
          'access-control-allow-methods': 'POST',
          'access-control-allow-headers': 'Authorization, Content-Type',
          'access-control-max-age': '600',
        });
        res.end();
      } else if (method === 'POST') {
        await token(req, res);
      } else {
        sendJson(res, 405, { error: 'invalid_request' }, { allow: 'POST' });
      }
      return true;
    }
    if (path === '/logout' && method === 'GET') {
      const clientId = url.searchParams.get('client_id') ?? '';
      const logoutUri = url.searchParams.get('logout_uri');
      if (!options.clients.has(clientId)) badRequestPage(res, 'The app client does not exist.');
      else if (clientId !== options.webClientId || !isRegistered(logoutUri))
        badRequestPage(res, 'The logout_uri is not registered for this app client.');
      else {
        const session = sessionOf(req);
        if (session) sessions.delete(session);
        redirect(res, logoutUri, { 'set-cookie': `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0` });
      }
      return true;
    }
    return false;
  };

  return { handle };
}
