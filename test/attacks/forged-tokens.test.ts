import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, type JWK, SignJWT } from 'jose';
import { describe, expect, inject, it } from 'vitest';
import { api, login } from '../support/auth';

/**
 * Forged and misused tokens against the running stack: the gateway's authorizer and then the
 * function must both refuse each one with `401 unauthorized` in the contract's shape, whatever
 * route it is sent to. (`test/integration/identity.test.ts` holds the function-side verifier to
 * the same cases one by one.)
 */
const stack = inject('stack');
const subs = inject('subs');
const issuer = `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The pool's public signing key, as anyone can read it from the JWKS. */
async function poolKey(): Promise<JWK> {
  const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
  return jwks.keys[0]!;
}

/** Signs `payload` with HMAC-SHA256 keyed by `secret` (the key-confusion attack). */
async function hs256(payload: Record<string, unknown>, kid: string, secret: Uint8Array): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' }).sign(secret);
}

async function forgeries(): Promise<[string, string][]> {
  const alice = await login('alice');
  const other = await login('alice', { clientId: inject('otherClientId') });
  const claims = decodeJwt(alice.accessToken);
  const kid = String(decodeProtectedHeader(alice.accessToken).kid);
  const [header, , signature] = alice.accessToken.split('.');
  const jwk = await poolKey();
  const pem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  const { privateKey: strangerKey } = await generateKeyPair('RS256');
  const now = Math.floor(Date.now() / 1000);
  return [
    ['alg none, no signature', `${b64({ alg: 'none', kid })}.${b64(claims)}.`],
    ['alg none, Bob’s sub', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, sub: subs.bob })}.`],
    ['HS256 keyed with the pool’s public key (PEM)', await hs256(claims, kid, new TextEncoder().encode(pem))],
    ['HS256 keyed with the pool’s public key (JWK JSON)', await hs256(claims, kid, new TextEncoder().encode(JSON.stringify(jwk)))],
    ['HS256 keyed with the public modulus', await hs256(claims, kid, Buffer.from(String(jwk.n), 'base64url'))],
    ['a payload changed to Bob’s sub, signature kept', `${header}.${b64({ ...claims, sub: subs.bob })}.${signature}`],
    [
      'signed by a stranger’s key under the pool’s kid',
      await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(strangerKey),
    ],
    ['expired', await new SignJWT({ ...claims, exp: now - 60 }).setProtectedHeader({ alg: 'RS256', kid }).sign(strangerKey)],
    ['an ID token', alice.idToken],
    ['an access token of another app client', other.accessToken],
    ['the right token with its signature removed', `${header}.${alice.accessToken.split('.')[1]}.`],
    ['garbage', 'not.a.jwt'],
  ];
}

describe('forged and misused tokens', () => {
  it('every one is refused with 401 unauthorized on every kind of route, and a genuine token passes', async () => {
    // Prepare
    const cases = await forgeries();
    const genuine = (await login('alice')).accessToken;
    const routes: [string, string, unknown][] = [
      ['GET', '/connections', undefined],
      ['GET', '/conversations', undefined],
      ['POST', '/conversations', { message: 'List my open tasks' }],
      ['POST', '/connections/asana/verify', { authRequestId: 'ar', state: 'st' }],
    ];
    for (const [name, token] of cases) {
      for (const [method, path, body] of routes) {
        // Act
        const answer = await api(method, path, { token, body });
        // Assess
        expect({ name, path, status: answer.status, code: answer.body?.error?.code }).toEqual({
          name,
          path,
          status: 401,
          code: 'unauthorized',
        });
        expect(answer.headers.get('cache-control')).toBe('no-store');
      }
    }
    expect((await api('GET', '/connections', { token: genuine })).status).toBe(200);
  });
});
