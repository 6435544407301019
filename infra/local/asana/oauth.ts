import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../service';
import { KNOWN_SCOPES, WRITE_SCOPES } from './api';
import { escapeHtml } from './present';
import type { AsanaStore, AsanaUser, GrantRecord } from './store';

/** An OAuth client the emulator accepts (the Scalekit emulator's Asana connection, tests). */
export interface OAuthClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Tokens for one grant, as the token endpoint and {@link AsanaOAuth.issueTokenFor} hand them out. */
export interface IssuedTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
  readonly scope: string;
}

/** Who a bearer token acts for, or why it does not. */
export type Authentication =
  | { readonly kind: 'ok'; readonly user: AsanaUser; readonly scopes: ReadonlySet<string> }
  | { readonly kind: 'missing' | 'invalid' | 'expired' };

const CODE_TTL_MS = 10 * 60 * 1000;
/** Fields of the consent form that are never carried over as hidden inputs. */
const FORM_OWN_FIELDS = new Set(['scope', 'email', 'password']);
/** What `issueTokenFor` grants: every known scope (`write`), or the read scopes of them (`read`). */
const READ_SCOPE = KNOWN_SCOPES.filter((scope) => scope.endsWith(':read')).join(' ');
const WRITE_SCOPE = KNOWN_SCOPES.join(' ');

/**
 * Asana's OAuth 2 authorization-code flow as docs/local-stack.md's consent hops describe it: an HTML consent
 * form (email, password, read-only or read-write), single-use codes, refresh tokens, revocation,
 * and the bearer-token check every API call goes through.
 */
export class AsanaOAuth {
  constructor(
    private readonly store: AsanaStore,
    private readonly clients: readonly OAuthClient[],
    private readonly accessTokenTtlSeconds: number,
  ) {}

  /** Handles `/oauth/authorize`, `/oauth/token` and `/oauth/revoke`; `false` for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> {
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    if (route === 'GET /oauth/authorize') this.showConsent(res, url.searchParams);
    else if (route === 'POST /oauth/authorize') this.submitConsent(res, new URLSearchParams(body));
    else if (route === 'POST /oauth/token') this.token(req, res, formOrJson(req, body));
    else if (route === 'POST /oauth/revoke') this.revoke(req, res, formOrJson(req, body));
    else return false;
    return true;
  }

  /** Checks an `Authorization: Bearer …` header against live, unrevoked access tokens. */
  authenticate(header: string | undefined): Authentication {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) return { kind: 'missing' };
    const record = this.store.state.accessTokens.find((t) => t.token === match[1]);
    const grant = record && this.liveGrant(record.grantId);
    const user = grant && this.store.users.get(grant.asanaGid);
    if (!record || !grant || !user) return { kind: 'invalid' };
    if (record.expiresAt <= Date.now()) return { kind: 'expired' };
    return { kind: 'ok', user, scopes: new Set(grant.scope.split(' ')) };
  }

  /**
   * Grants tokens without the consent form: for tests and for `asanaOnly` accounts (the admin),
   * which have no password. `scope` is `read`, `write` (default) or a space-separated scope list.
   */
  issueTokenFor(asanaGid: string, scope = 'write'): IssuedTokens {
    if (!this.store.users.has(asanaGid)) throw new Error(`no Asana user ${asanaGid} in this world`);
    const scopes = scope === 'read' ? READ_SCOPE : scope === 'write' ? WRITE_SCOPE : scope;
    const grant = this.newGrant(asanaGid, '(in-process)', scopes);
    this.store.save();
    return this.tokensFor(grant);
  }

  /** Makes every live access token (of one user, or of all) expired now; refresh tokens keep working. */
  expireAccessTokens(asanaGid?: string): number {
    let count = 0;
    for (const record of this.store.state.accessTokens) {
      const grant = this.store.state.grants.find((g) => g.id === record.grantId);
      if (asanaGid !== undefined && grant?.asanaGid !== asanaGid) continue;
      if (record.expiresAt > Date.now()) count++;
      record.expiresAt = 0;
    }
    this.store.save();
    return count;
  }

  // ── consent ───────────────────────────────────────────────────────────────

  private showConsent(res: ServerResponse, params: URLSearchParams): void {
    const problem = this.checkAuthorizeParams(params);
    if (problem) return sendHtml(res, 400, errorPage(problem));
    sendHtml(res, 200, consentPage(params.get('client_id') ?? '', hiddenFields(params), '', undefined, params.get('scope')));
  }

  private submitConsent(res: ServerResponse, form: URLSearchParams): void {
    const problem = this.checkAuthorizeParams(form);
    if (problem) return sendHtml(res, 400, errorPage(problem));
    const email = form.get('email') ?? '';
    const user = this.store.userByEmail(email);
    // Accounts without a password (asanaOnly) cannot log in here, whatever is typed.
    if (!user || user.password === undefined || !sameSecret(user.password, form.get('password') ?? '')) {
      return sendHtml(res, 401, consentPage(form.get('client_id') ?? '', hiddenFields(form), email, 'Wrong email or password.'));
    }
    const scope = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
    if (scope.length === 0 || !scope.every((s) => KNOWN_SCOPES.includes(s))) {
      return sendHtml(
        res,
        400,
        consentPage(form.get('client_id') ?? '', hiddenFields(form), email, 'Choose read-only or read-write access.'),
      );
    }
    const code = token();
    this.store.state.codes = this.store.state.codes.filter((c) => c.expiresAt > Date.now());
    this.store.state.codes.push({
      code,
      asanaGid: user.gid,
      clientId: form.get('client_id') ?? '',
      redirectUri: form.get('redirect_uri') ?? '',
      scope: scope.join(' '),
      codeChallenge: form.get('code_challenge'),
      codeChallengeMethod: form.get('code_challenge_method'),
      expiresAt: Date.now() + CODE_TTL_MS,
      grantId: null,
    });
    this.store.save();
    const target = new URL(form.get('redirect_uri') ?? '');
    target.searchParams.set('code', code);
    const state = form.get('state');
    if (state !== null) target.searchParams.set('state', state);
    res.writeHead(302, { location: target.toString(), 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
  }

  private checkAuthorizeParams(params: URLSearchParams): string | undefined {
    const clientId = params.get('client_id');
    if (!clientId || !this.clients.some((c) => c.clientId === clientId)) return 'Unknown client_id.';
    const redirectUri = params.get('redirect_uri');
    if (!redirectUri || !URL.canParse(redirectUri) || !/^https?:$/.test(new URL(redirectUri).protocol)) {
      return 'redirect_uri must be an absolute http(s) URL.';
    }
    if (params.get('response_type') !== 'code') return 'response_type must be "code".';
    return undefined;
  }

  // ── token endpoint ────────────────────────────────────────────────────────

  private token(req: IncomingMessage, res: ServerResponse, form: URLSearchParams): void {
    const clientId = this.authenticateClient(req, form);
    if (!clientId) return oauthError(res, 401, 'invalid_client', 'Unknown client or wrong client secret.');
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') return this.exchangeCode(res, form, clientId);
    if (grantType === 'refresh_token') return this.refresh(res, form, clientId);
    oauthError(res, 400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token.');
  }

  private exchangeCode(res: ServerResponse, form: URLSearchParams, clientId: string): void {
    const record = this.store.state.codes.find((c) => c.code === form.get('code'));
    if (!record || record.clientId !== clientId || record.expiresAt <= Date.now()) {
      return oauthError(res, 400, 'invalid_grant', 'The code is unknown, expired or issued to another client.');
    }
    if (record.grantId !== null) {
      // A replayed code may have been stolen: the grant it produced is revoked too.
      this.revokeGrant(record.grantId);
      this.store.save();
      return oauthError(res, 400, 'invalid_grant', 'The code has already been used.');
    }
    if (form.get('redirect_uri') !== record.redirectUri) {
      return oauthError(res, 400, 'invalid_grant', 'redirect_uri does not match the one the code was issued for.');
    }
    if (record.codeChallenge !== null && !pkceMatches(record.codeChallenge, record.codeChallengeMethod, form.get('code_verifier'))) {
      return oauthError(res, 400, 'invalid_grant', 'code_verifier does not match the code_challenge.');
    }
    const grant = this.newGrant(record.asanaGid, clientId, record.scope);
    record.grantId = grant.id;
    this.store.save();
    this.sendTokens(res, grant);
  }

  private refresh(res: ServerResponse, form: URLSearchParams, clientId: string): void {
    const grant = this.store.state.grants.find((g) => g.refreshToken === form.get('refresh_token') && !g.revoked);
    if (!grant || grant.clientId !== clientId)
      return oauthError(res, 400, 'invalid_grant', 'The refresh token is unknown, revoked or issued to another client.');
    // Tokens expired a while ago are of no use to anyone: drop them so the state stays small.
    const cutoff = Date.now() - 24 * 3600 * 1000;
    this.store.state.accessTokens = this.store.state.accessTokens.filter((t) => t.grantId !== grant.id || t.expiresAt > cutoff);
    this.store.save();
    this.sendTokens(res, grant);
  }

  private sendTokens(res: ServerResponse, grant: GrantRecord): void {
    const tokens = this.tokensFor(grant);
    const user = this.store.users.get(grant.asanaGid);
    sendJson(
      res,
      200,
      {
        access_token: tokens.accessToken,
        token_type: 'bearer',
        expires_in: tokens.expiresIn,
        refresh_token: tokens.refreshToken,
        scope: tokens.scope,
        data: { gid: grant.asanaGid, name: user?.name ?? '', email: user?.email ?? '' },
      },
      { 'cache-control': 'no-store' },
    );
  }

  /** RFC 7009: revoking an unknown token is not an error; a known one ends its whole grant. */
  private revoke(req: IncomingMessage, res: ServerResponse, form: URLSearchParams): void {
    if (!this.authenticateClient(req, form)) return oauthError(res, 401, 'invalid_client', 'Unknown client or wrong client secret.');
    const value = form.get('token');
    if (!value) return oauthError(res, 400, 'invalid_request', 'token is required.');
    const grantId =
      this.store.state.grants.find((g) => g.refreshToken === value)?.id ??
      this.store.state.accessTokens.find((t) => t.token === value)?.grantId;
    if (grantId !== undefined) {
      this.revokeGrant(grantId);
      this.store.save();
    }
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  }

  // ── grants and tokens ─────────────────────────────────────────────────────

  private authenticateClient(req: IncomingMessage, form: URLSearchParams): string | undefined {
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      id = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
    const client = this.clients.find((c) => c.clientId === id);
    return client && secret !== null && sameSecret(client.clientSecret, secret) ? client.clientId : undefined;
  }

  private newGrant(asanaGid: string, clientId: string, scope: string): GrantRecord {
    const grant: GrantRecord = { id: token(), asanaGid, clientId, scope, refreshToken: token(), revoked: false };
    this.store.state.grants.push(grant);
    return grant;
  }

  private tokensFor(grant: GrantRecord): IssuedTokens {
    const accessToken = token();
    this.store.state.accessTokens.push({
      token: accessToken,
      grantId: grant.id,
      expiresAt: Date.now() + this.accessTokenTtlSeconds * 1000,
    });
    this.store.save();
    return { accessToken, refreshToken: grant.refreshToken, expiresIn: Math.ceil(this.accessTokenTtlSeconds), scope: grant.scope };
  }

  private liveGrant(id: string): GrantRecord | undefined {
    const grant = this.store.state.grants.find((g) => g.id === id);
    return grant && !grant.revoked ? grant : undefined;
  }

  private revokeGrant(id: string): void {
    const grant = this.store.state.grants.find((g) => g.id === id);
    if (grant) grant.revoked = true;
    this.store.state.accessTokens = this.store.state.accessTokens.filter((t) => t.grantId !== id);
  }
}

function token(): string {
  return randomBytes(24).toString('base64url');
}

function sameSecret(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function pkceMatches(challenge: string, method: string | null, verifier: string | null): boolean {
  if (verifier === null) return false;
  const computed = method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
  return sameSecret(challenge, computed);
}

function formOrJson(req: IncomingMessage, body: string): URLSearchParams {
  if (!(req.headers['content-type'] ?? '').includes('application/json')) return new URLSearchParams(body);
  const form = new URLSearchParams();
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value === 'object' && value !== null) {
      for (const [key, field] of Object.entries(value)) if (typeof field === 'string') form.set(key, field);
    }
  } catch {
    // an unparsable body has no fields: the endpoint answers what is missing
  }
  return form;
}

function oauthError(res: ServerResponse, status: number, error: string, description: string): void {
  sendJson(res, status, { error, error_description: description }, { 'cache-control': 'no-store' });
}

function hiddenFields(params: URLSearchParams): [string, string][] {
  return [...params].filter(([name]) => !FORM_OWN_FIELDS.has(name));
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
  });
  res.end(html);
}

/**
 * The two choices of the consent page. Read-write grants what the app asked for (its known
 * scopes; the default read-write set when it asked for none), as Asana shows the scopes an app
 * registered. Read-only keeps only the `:read` scopes of it: a local convenience Asana does not offer.
 */
function scopeChoices(requested: string | null | undefined): { read: string; write: string } {
  // Without a request, the form's two choices of docs/local-stack.md.
  const asked = (requested ?? '').split(/[\s,]+/).filter((scope) => KNOWN_SCOPES.includes(scope));
  const write = asked.length > 0 ? asked : [...WRITE_SCOPES];
  return { read: write.filter((scope) => scope.endsWith(':read')).join(' '), write: write.join(' ') };
}

/** The consent page: exactly one form, attributes double-quoted, every value escaped (docs/local-stack.md). */
function consentPage(
  clientId: string,
  hidden: [string, string][],
  email: string,
  error: string | undefined,
  requested?: string | null,
): string {
  const choices = scopeChoices(requested);
  const inputs = hidden
    .map(([name, value]) => `    <input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Asana (local emulator): authorize</title></head>
<body>
  <h1>Allow access to your Asana account?</h1>
  <p>The app <code>${escapeHtml(clientId)}</code> asks to act in Asana as you.</p>
${error ? `  <p role="alert">${escapeHtml(error)}</p>\n` : ''}  <form method="post" action="/oauth/authorize">
${inputs}
    <p><label>Email <input type="email" name="email" value="${escapeHtml(email)}" autocomplete="username" required></label></p>
    <p><label>Password <input type="password" name="password" autocomplete="current-password" required></label></p>
    <fieldset>
      <legend>Access</legend>
      <label><input type="radio" name="scope" value="${escapeHtml(choices.read)}"> Read only</label>
      <label><input type="radio" name="scope" value="${escapeHtml(choices.write)}" checked> Read and write</label>
    </fieldset>
    <p><button type="submit">Allow</button></p>
  </form>
</body>
</html>
`;
}

function errorPage(message: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Asana (local emulator): error</title></head>
<body><h1>Cannot authorize</h1><p>${escapeHtml(message)}</p></body>
</html>
`;
}
