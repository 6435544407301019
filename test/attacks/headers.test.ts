import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, login } from '../support/auth';
import { ownStack } from '../support/own-stack';

/**
 * A browser-side attacker: the API's answers must never be cached or content-sniffed, and only
 * the console origin may read them. Checked on real answers of the local gateway and of the
 * real functions behind it: a function's `200`, a function's `4xx`, the gateway's own `401` and
 * `404`, and the `OPTIONS` preflight.
 */
const ORIGIN = 'https://console.attacks.test';

let stack: Awaited<ReturnType<typeof ownStack>>;
let token: string;

beforeAll(async () => {
  stack = await ownStack({ env: { ONBEHALF_WEB_ORIGIN: ORIGIN } });
  token = (await login('tuva')).accessToken;
});

afterAll(async () => {
  await stack?.close();
});

const expectEdgeHeaders = (headers: Headers) => {
  expect(headers.get('cache-control')).toBe('no-store');
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('access-control-allow-origin')).toBe(ORIGIN);
  expect(headers.get('vary')).toBe('Origin');
  expect(headers.get('access-control-expose-headers')).toBe('Retry-After');
};

describe('every answer carries no-store, nosniff and the console origin', () => {
  it.each([
    ['a function’s 200', 'GET', '/connections', true, 200, undefined],
    ['a function’s 404', 'POST', '/connections/no-such-connection', true, 404, 'unknown_connection'],
    ['a function’s 400', 'POST', '/conversations', true, 400, 'validation_failed'],
    ['the gateway’s 401', 'GET', '/connections', false, 401, 'unauthorized'],
    ['the gateway’s 404', 'GET', '/no/such/route', false, 404, 'not_found'],
  ] as const)('%s', async (_name, method, path, withToken, status, code) => {
    // Act: a request from another site's page, naming its own origin.
    const answer = await api(method, path, {
      apiUrl: stack.apiUrl,
      token: withToken ? token : undefined,
      body: method === 'POST' ? {} : undefined,
      headers: { origin: 'https://evil.attacks.test' },
    });
    // Assess: the answer names the console origin only, never the caller's.
    expect(answer.status).toBe(status);
    if (code) expect(answer.body.error.code).toBe(code);
    expectEdgeHeaders(answer.headers);
  });
});

describe('OPTIONS preflight', () => {
  it.each([
    ['/connections', ['GET']],
    ['/connections/asana', ['POST', 'DELETE']],
    ['/conversations/c_anything', ['GET', 'DELETE']],
    ['/conversations/c_anything/approvals', ['POST']],
  ] as const)('OPTIONS %s answers 204 without a token, allowing exactly that path’s methods', async (path, methods) => {
    // Act
    const answer = await fetch(`${stack.apiUrl}${path}`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': methods[0], 'access-control-request-headers': 'authorization' },
    });
    // Assess
    expect(answer.status).toBe(204);
    expect(await answer.text()).toBe('');
    expectEdgeHeaders(answer.headers);
    const allowed = answer.headers.get('access-control-allow-methods')?.split(', ').sort();
    expect(allowed).toEqual([...methods, 'OPTIONS'].sort());
    expect(answer.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type, Accept');
  });

  it('OPTIONS on a path that is not a route is 404 not_found, still with the edge headers', async () => {
    // Act
    const answer = await api('OPTIONS', '/admin', { apiUrl: stack.apiUrl, headers: { origin: ORIGIN } });
    // Assess
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('not_found');
    expectEdgeHeaders(answer.headers);
  });

  it('a preflight does not run anything: OPTIONS with a token reaches no function', async () => {
    // Act
    const answer = await api('OPTIONS', '/conversations', { apiUrl: stack.apiUrl, token, headers: { origin: ORIGIN } });
    // Assess: the gateway's mock answer, with no body (a function would have answered JSON).
    expect(answer.status).toBe(204);
    expect(answer.body).toBeNull();
  });
});

describe('without a console origin', () => {
  it('answers still carry no-store and nosniff', async () => {
    // Act: the suite's stack (its console origin, if any, is its own).
    const ok = await api('GET', '/connections', { token });
    const refused = await api('GET', '/connections');
    // Assess
    for (const answer of [ok, refused]) {
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('access-control-allow-origin')).not.toBe('https://evil.attacks.test');
    }
    expect([ok.status, refused.status]).toEqual([200, 401]);
  });
});
