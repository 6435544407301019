import type { APIGatewayProxyEvent } from 'aws-lambda';
import { CognitoJwtVerifier } from 'aws-jwt-verify';
import { JwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';
import { USER_SCOPE } from './scope';
import { DomainError } from '../core/errors';

/** The verified caller. `sub` is the only identity the product ever uses. */
export interface Caller {
  readonly sub: string;
  readonly username: string;
  /**
   * The verified access token itself, only for asking Cognito as the caller (`GetUser`). Not
   * enumerable: a caller that reaches a log line or a JSON body by mistake carries no token.
   */
  readonly accessToken: string;
}

/** Verifies a Cognito access token and returns its payload, or throws. */
export interface AccessTokenVerifier {
  verify(token: string): Promise<JwtPayload>;
}

const requireAccessClaims = (payload: JwtPayload): void => {
  if (typeof payload.exp !== 'number') throw new Error('token has no exp');
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
  if (!scopes.includes(USER_SCOPE)) throw new Error('token lacks the user scope');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('token has no sub');
};

/** Fetches a JWKS over plain `fetch`: aws-jwt-verify's own fetcher only speaks https. */
export class FetchJwksFetcher {
  async fetch(uri: string): Promise<ArrayBuffer> {
    const response = await fetch(uri, { signal: AbortSignal.timeout(3000) });
    if (!response.ok) throw new Error(`JWKS fetch failed: ${response.status}`);
    return response.arrayBuffer();
  }
}

/**
 * The verifier for a deployment or the local stack. With `issuer` (local stack) the JWKS is read
 * from `<issuer>/.well-known/jwks.json` over http; otherwise `CognitoJwtVerifier` derives it
 * from the pool id. Either way: `token_use` must be `access`, `client_id` one of the app clients, `exp`
 * present, and the scope the API's authorizer requires.
 */
export function createAccessTokenVerifier(options: {
  userPoolId: string;
  /** The app clients whose tokens are accepted (the native client, and the web console's when there is one). */
  clientId: string | readonly string[];
  issuer?: string;
}): AccessTokenVerifier {
  const clientIds: string[] = typeof options.clientId === 'string' ? [options.clientId] : [...options.clientId];
  if (options.issuer) {
    const verifier = JwtVerifier.create(
      {
        issuer: options.issuer,
        jwksUri: `${options.issuer}/.well-known/jwks.json`,
        audience: null,
        customJwtCheck: ({ payload }) => {
          if (payload.token_use !== 'access') throw new Error('not an access token');
          if (typeof payload.client_id !== 'string' || !clientIds.includes(payload.client_id))
            throw new Error('token of another app client');
          requireAccessClaims(payload);
        },
      },
      { jwksCache: new SimpleJwksCache({ fetcher: new FetchJwksFetcher() }) },
    );
    return { verify: (token) => verifier.verify(token) };
  }
  const verifier = CognitoJwtVerifier.create({
    userPoolId: options.userPoolId,
    tokenUse: 'access',
    clientId: clientIds,
    customJwtCheck: ({ payload }) => requireAccessClaims(payload),
  });
  return { verify: (token) => verifier.verify(token) };
}

const unauthorized = () => new DomainError('unauthorized', 'A valid access token is required.');

/**
 * Extracts the caller from the `Authorization: Bearer` header and verifies the token again
 * (the API Gateway authorizer already did). Nothing else in the request can name a user.
 */
export async function authenticate(event: APIGatewayProxyEvent, verifier: AccessTokenVerifier): Promise<Caller> {
  const header = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!match) throw unauthorized();
  let payload: JwtPayload;
  try {
    payload = await verifier.verify(match[1]!);
  } catch {
    throw unauthorized();
  }
  const sub = payload.sub as string;
  const username = typeof payload.username === 'string' ? payload.username : sub;
  const caller = { sub, username };
  Object.defineProperty(caller, 'accessToken', { value: match[1]!, enumerable: false });
  return Object.freeze(caller as Caller);
}
