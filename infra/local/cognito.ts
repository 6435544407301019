import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { USER_SCOPE } from '../routes';
import { createManagedLogin } from './managed-login';
import { listen, type LocalService, readBody, readState, sendJson, writeState } from './service';

/** A local user: what Cognito would hold for a seeded person. */
export interface LocalUser {
  readonly username: string;
  readonly password: string;
  readonly email: string;
}

export interface CognitoOptions {
  users: readonly LocalUser[];
  port?: number;
  /** Persist keys, subs and refresh tokens here (`.data/cognito.json`); memory only without it. */
  stateFile?: string;
  /** Lifetime of access and ID tokens (Cognito's default: one hour). */
  accessTokenTtlSeconds?: number;
  region?: string;
  /** Lifetime of a managed-login authorization code (Cognito's: five minutes). */
  authorizationCodeTtlSeconds?: number;
  /**
   * The web console's origin (`consoleUrl`): the public app client's redirect and logout URIs
   * must lie under it, and the token endpoint answers CORS for it. A function, because the
   * console may start after the pool.
   */
  consoleUrl?: () => string | undefined;
}

/** The running local user pool: the facts a client and a verifier need. */
export interface LocalCognito extends LocalService {
  readonly userPoolId: string;
  /** The app client the product trusts. */
  readonly clientId: string;
  /** A second app client of the same pool: its tokens must be refused by the functions. */
  readonly otherClientId: string;
  /** The web console's public app client: managed login with authorization code + PKCE. */
  readonly webClientId: string;
  /** Base URL of the managed login (`/oauth2/authorize`, `/oauth2/token`, `/logout`). */
  readonly domain: string;
  readonly region: string;
  /** `iss` of every token: `<url>/<userPoolId>`, as cognito-local does. */
  readonly issuer: string;
  readonly jwksUri: string;
  /** The `sub` of a seeded user. */
  subOf(username: string): string;
}

interface PersistedState {
  userPoolId: string;
  clientId: string;
  otherClientId: string;
  webClientId?: string;
  privateJwk: JWK;
  publicJwk: JWK;
  subs: Record<string, string>;
  /** `scope`: what a managed-login grant allowed (absent for `InitiateAuth`, which grants the user scope). */
  refreshTokens: Record<string, { username: string; clientId: string; scope?: string }>;
}

class CognitoError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A local Cognito user pool speaking the Cognito Identity Provider JSON protocol for
 * `InitiateAuth` (`USER_PASSWORD_AUTH`, `REFRESH_TOKEN_AUTH`) and `GetUser`, so clients log in with
 * `@aws-sdk/client-cognito-identity-provider` exactly as against real Cognito, and serving the
 * pool's JWKS at `/<userPoolId>/.well-known/jwks.json`. Tokens carry Cognito's claims. The same
 * server is the pool's managed-login domain for the web console's public client (`managed-login.ts`).
 */
export async function startCognito(options: CognitoOptions): Promise<LocalCognito> {
  const region = options.region ?? 'us-east-1';
  const ttl = options.accessTokenTtlSeconds ?? 3600;
  let state = readState<PersistedState>(options.stateFile);
  if (!state) {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = randomUUID();
    state = {
      userPoolId: `${region}_local${randomBytes(3).toString('hex')}`,
      clientId: randomBytes(13).toString('hex'),
      otherClientId: randomBytes(13).toString('hex'),
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256' },
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
      subs: {},
      refreshTokens: {},
    };
  }
  state.webClientId ??= randomBytes(13).toString('hex');
  for (const user of options.users) state.subs[user.username] ??= randomUUID();
  writeState(options.stateFile, state);
  const persisted = state;
  const signingKey = await importJWK(persisted.privateJwk, 'RS256');
  const users = new Map(options.users.map((user) => [user.username, user]));
  const webClientId = persisted.webClientId!;
  const clients = new Set([persisted.clientId, persisted.otherClientId, webClientId]);

  let issuer = '';
  const issueTokens = async (user: LocalUser, clientId: string, grant: { scope?: string; nonce?: string } = {}) => {
    const sub = persisted.subs[user.username]!;
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', kid: persisted.publicJwk.kid! };
    const accessToken = await new SignJWT({
      client_id: clientId,
      origin_jti: randomUUID(),
      event_id: randomUUID(),
      token_use: 'access',
      scope: grant.scope ?? USER_SCOPE,
      auth_time: now,
      jti: randomUUID(),
      username: user.username,
    })
      .setProtectedHeader(header)
      .setSubject(sub)
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(signingKey);
    const idToken = await new SignJWT({
      aud: clientId,
      email_verified: true,
      token_use: 'id',
      auth_time: now,
      'cognito:username': user.username,
      email: user.email,
      jti: randomUUID(),
      ...(grant.nonce === undefined ? {} : { nonce: grant.nonce }),
    })
      .setProtectedHeader(header)
      .setSubject(sub)
      .setIssuer(issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .sign(signingKey);
    return { AccessToken: accessToken, IdToken: idToken, ExpiresIn: ttl, TokenType: 'Bearer' };
  };

  const initiateAuth = async (input: Record<string, unknown>) => {
    const clientId = typeof input.ClientId === 'string' ? input.ClientId : '';
    if (!clients.has(clientId)) throw new CognitoError('ResourceNotFoundException', 'User pool client does not exist.');
    const params = (input.AuthParameters ?? {}) as Record<string, unknown>;
    if (input.AuthFlow === 'USER_PASSWORD_AUTH') {
      const user = users.get(String(params.USERNAME ?? ''));
      if (!user || params.PASSWORD !== user.password) {
        throw new CognitoError('NotAuthorizedException', 'Incorrect username or password.');
      }
      const refreshToken = randomBytes(48).toString('base64url');
      persisted.refreshTokens[refreshToken] = { username: user.username, clientId };
      writeState(options.stateFile, persisted);
      return {
        AuthenticationResult: { ...(await issueTokens(user, clientId)), RefreshToken: refreshToken },
        ChallengeParameters: {},
      };
    }
    if (input.AuthFlow === 'REFRESH_TOKEN_AUTH' || input.AuthFlow === 'REFRESH_TOKEN') {
      const grant = persisted.refreshTokens[String(params.REFRESH_TOKEN ?? '')];
      const user = grant && users.get(grant.username);
      if (!grant || !user || grant.clientId !== clientId) {
        throw new CognitoError('NotAuthorizedException', 'Invalid Refresh Token');
      }
      return { AuthenticationResult: await issueTokens(user, clientId, { scope: grant.scope }), ChallengeParameters: {} };
    }
    throw new CognitoError('InvalidParameterException', `AuthFlow ${String(input.AuthFlow)} is not supported by the local user pool.`);
  };

  const verifyKey = await importJWK(persisted.publicJwk, 'RS256');
  /**
   * `GetUser` as Cognito answers it: the caller's own attributes for a valid access token of this
   * pool carrying the user scope (an ID token, an expired or foreign token → NotAuthorizedException).
   */
  const getUser = async (input: Record<string, unknown>) => {
    const invalid = () => new CognitoError('NotAuthorizedException', 'Invalid Access Token');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(String(input.AccessToken ?? ''), verifyKey, { issuer, algorithms: ['RS256'] }));
    } catch {
      throw invalid();
    }
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (payload.token_use !== 'access' || !scopes.includes(USER_SCOPE)) throw invalid();
    const user = users.get(String(payload.username ?? ''));
    if (!user || persisted.subs[user.username] !== payload.sub) {
      throw new CognitoError('UserNotFoundException', 'User does not exist.');
    }
    return {
      Username: user.username,
      UserAttributes: [
        { Name: 'sub', Value: persisted.subs[user.username]! },
        { Name: 'email', Value: user.email },
        { Name: 'email_verified', Value: 'true' },
      ],
    };
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://local');
      if (req.method === 'GET' && url.pathname === `/${persisted.userPoolId}/.well-known/jwks.json`) {
        sendJson(res, 200, { keys: [persisted.publicJwk] });
        return;
      }
      if (await managedLogin.handle(req, res, url)) return;
      if (req.method === 'GET' && url.pathname === '/health') {
        sendJson(res, 200, { ok: true });
        return;
      }
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || url.pathname !== '/' || !target.startsWith('AWSCognitoIdentityProviderService.')) {
        sendJson(res, 404, { __type: 'UnknownOperationException', message: 'Not found' });
        return;
      }
      try {
        const action = target.slice('AWSCognitoIdentityProviderService.'.length);
        const input = JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>;
        if (action !== 'InitiateAuth' && action !== 'GetUser') {
          throw new CognitoError('UnsupportedOperationException', `${action} is not supported by the local user pool.`);
        }
        const output = action === 'GetUser' ? await getUser(input) : await initiateAuth(input);
        sendJson(res, 200, output, { 'content-type': 'application/x-amz-json-1.1' });
      } catch (error) {
        const type = error instanceof CognitoError ? error.type : 'InternalErrorException';
        const message = error instanceof CognitoError ? error.message : 'Internal error';
        sendJson(
          res,
          400,
          { __type: type, message },
          {
            'content-type': 'application/x-amz-json-1.1',
            'x-amzn-errortype': type,
          },
        );
      }
    })();
  });

  const managedLogin = createManagedLogin({
    issuer: () => issuer,
    domain: () => domain,
    jwksUri: () => `${issuer}/.well-known/jwks.json`,
    webClientId,
    clients,
    codeTtlMs: (options.authorizationCodeTtlSeconds ?? 300) * 1000,
    consoleUrl: options.consoleUrl ?? (() => undefined),
    authenticate: (username, password) => {
      const user = users.get(username);
      return user && user.password === password ? user : undefined;
    },
    issueTokens: async (username, clientId, grant) => {
      const user = users.get(username);
      if (!user) return undefined;
      const tokens = await issueTokens(user, clientId, grant);
      return { accessToken: tokens.AccessToken, idToken: tokens.IdToken, expiresIn: tokens.ExpiresIn };
    },
    newRefreshToken: (username, clientId, scope) => {
      const refreshToken = randomBytes(48).toString('base64url');
      persisted.refreshTokens[refreshToken] = { username, clientId, scope };
      writeState(options.stateFile, persisted);
      return refreshToken;
    },
    refreshGrant: (refreshToken) => persisted.refreshTokens[refreshToken],
  });

  const service = await listen(server, { port: options.port });
  issuer = `${service.url}/${persisted.userPoolId}`;
  const domain = service.url;
  return {
    ...service,
    userPoolId: persisted.userPoolId,
    clientId: persisted.clientId,
    otherClientId: persisted.otherClientId,
    webClientId,
    domain,
    region,
    issuer,
    jwksUri: `${issuer}/.well-known/jwks.json`,
    subOf: (username) => {
      const sub = persisted.subs[username];
      if (!sub) throw new Error(`no such user: ${username}`);
      return sub;
    },
  };
}
