import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { generateKeyPair, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import { authenticate, createAccessTokenVerifier } from '../../functions/http/identity';
import { DomainError } from '../../functions/core/errors';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { login } from '../support/auth';

const stack = inject('stack');
const subs = inject('subs');
const issuer = `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`;
const verifier = createAccessTokenVerifier({ userPoolId: stack.cognito.userPoolId, clientId: stack.cognito.clientId, issuer });

const eventWith = (authorization?: string): APIGatewayProxyEvent =>
  ({ headers: authorization ? { Authorization: authorization } : {} }) as unknown as APIGatewayProxyEvent;

const rejects = async (token: string) => {
  const error = await authenticate(eventWith(`Bearer ${token}`), verifier).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe('unauthorized');
};

/** Re-signs a payload with a fresh key under the real key id: right shape, wrong signature key. */
async function forge(payload: Record<string, unknown>, kid: string): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey);
}

describe('access tokens from the local user pool', () => {
  it('verifies an access token and yields the sub and username', async () => {
    const { accessToken } = await login('alice');
    const caller = await authenticate(eventWith(`Bearer ${accessToken}`), verifier);
    expect(caller).toEqual({ sub: subs.alice, username: 'alice' });
    // The token is kept for asking Cognito as the caller, but never serialized with it.
    expect(caller.accessToken).toBe(accessToken);
    expect(JSON.stringify(caller)).not.toContain(accessToken);
  });

  it('rejects a tampered payload', async () => {
    const { accessToken } = await login('alice');
    const [header, , signature] = accessToken.split('.');
    const payload = { ...decodeJwt(accessToken), sub: subs.bob };
    const tampered = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
    await rejects(tampered);
  });

  it('rejects a token signed with another key', async () => {
    const { accessToken } = await login('alice');
    await rejects(await forge(decodeJwt(accessToken), String(decodeProtectedHeader(accessToken).kid)));
  });

  it('rejects an expired token', async () => {
    const { accessToken } = await login('alice');
    // Same claims, expired, signed by a key the pool does not have: the expiry check must not
    // even be reached with a valid signature, so also prove expiry alone fails below.
    const now = Math.floor(Date.now() / 1000);
    const expiredVerifier = createAccessTokenVerifier({ userPoolId: stack.cognito.userPoolId, clientId: stack.cognito.clientId, issuer });
    const payload = decodeJwt(accessToken);
    expect(payload.exp).toBeGreaterThan(now);
    await rejects(await forge({ ...payload, exp: now - 60 }, String(decodeProtectedHeader(accessToken).kid)));
    // A genuine token is refused once its exp has passed (the clock moved forward by a day).
    const realNow = Date.now;
    Date.now = () => realNow() + 24 * 3600 * 1000;
    try {
      const error = await authenticate(eventWith(`Bearer ${accessToken}`), expiredVerifier).catch((e: unknown) => e);
      expect((error as DomainError).code).toBe('unauthorized');
    } finally {
      Date.now = realNow;
    }
  });

  it('rejects an ID token', async () => {
    const { idToken } = await login('alice');
    await rejects(idToken);
  });

  it('rejects an access token of another app client of the same pool', async () => {
    const { accessToken } = await login('alice', { clientId: inject('otherClientId') });
    await rejects(accessToken);
  });

  it('rejects alg none', async () => {
    const { accessToken } = await login('alice');
    const header = Buffer.from(JSON.stringify({ alg: 'none', kid: decodeProtectedHeader(accessToken).kid })).toString('base64url');
    const payload = accessToken.split('.')[1];
    await rejects(`${header}.${payload}.`);
  });

  it('rejects HS256 signed with the pool’s public key (algorithm confusion)', async () => {
    const { accessToken } = await login('alice');
    const kid = String(decodeProtectedHeader(accessToken).kid);
    const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: JsonWebKey[] };
    const pem = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    for (const secret of [pem, JSON.stringify(jwks.keys[0])]) {
      const forged = await new SignJWT(decodeJwt(accessToken))
        .setProtectedHeader({ alg: 'HS256', kid })
        .sign(new TextEncoder().encode(secret));
      await rejects(forged);
    }
  });

  it('rejects a missing or malformed Authorization header', async () => {
    for (const header of [undefined, 'Basic abc', 'Bearer', 'Bearer a b']) {
      const error = await authenticate(eventWith(header), verifier).catch((e: unknown) => e);
      expect((error as DomainError).code).toBe('unauthorized');
    }
  });
});
