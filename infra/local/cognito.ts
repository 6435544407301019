import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { USER_SCOPE } from '../routes';
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
}

/** The running local user pool: the facts a client and a verifier need. */
export interface LocalCognito extends LocalService {
  readonly userPoolId: string;
  /** The app client the product trusts. */
  readonly clientId: string;
  /** A second app client of the same pool: its tokens must be refused by the functions. */
  readonly otherClientId: string;
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
  privateJwk: JWK;
  publicJwk: JWK;
  subs: Record<string, string>;
  refreshTokens: Record<string, { username: string; clientId: string }>;
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
 * pool's JWKS at `/<userPoolId>/.well-known/jwks.json`. Tokens carry Cognito's claims.
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
  for (const user of options.users) state.subs[user.username] ??= randomUUID();
  writeState(options.stateFile, state);
  const persisted = state;
  const signingKey = await importJWK(persisted.privateJwk, 'RS256');
  const users = new Map(options.users.map((user) => [user.username, user]));
  const clients = new Set([persisted.clientId, persisted.otherClientId]);

  let issuer = '';
  const issueTokens = async (user: LocalUser, clientId: string) => {
    const sub = persisted.subs[user.username]!;
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', kid: persisted.publicJwk.kid! };
    const accessToken = await new SignJWT({
      client_id: clientId,
      origin_jti: randomUUID(),
      event_id: randomUUID(),
      token_use: 'access',
      scope: USER_SCOPE,
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
      return { AuthenticationResult: await issueTokens(user, clientId), ChallengeParameters: {} };
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

  const service = await listen(server, { port: options.port });
  issuer = `${service.url}/${persisted.userPoolId}`;
  return {
    ...service,
    userPoolId: persisted.userPoolId,
    clientId: persisted.clientId,
    otherClientId: persisted.otherClientId,
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
