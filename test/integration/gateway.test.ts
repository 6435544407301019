import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { authenticate, createAccessTokenVerifier } from '../../functions/http/identity';
import { errorResponse, json } from '../../functions/http/response';
import { startGateway } from '../../infra/local/gateway';
import type { LocalService } from '../../infra/local/service';
import { login } from '../support/auth';

const stack = inject('stack');
const subs = inject('subs');
const issuer = `${stack.cognito.endpoint}/${stack.cognito.userPoolId}`;
const verifier = createAccessTokenVerifier({ userPoolId: stack.cognito.userPoolId, clientId: stack.cognito.clientId, issuer });

// A gateway of this test's own, with a handler registered only here: it echoes who the
// function believes the caller is and what event it received.
let gateway: LocalService;
const received: APIGatewayProxyEvent[] = [];
beforeAll(async () => {
  gateway = await startGateway({
    port: 0,
    issuer,
    handlers: {
      connect: async (event: APIGatewayProxyEvent) => {
        received.push(event);
        try {
          const caller = await authenticate(event, verifier);
          return json(200, { caller, path: event.path, pathParameters: event.pathParameters, body: event.body });
        } catch (error) {
          return errorResponse(error);
        }
      },
    },
  });
});
afterAll(() => gateway.close());

const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
  const response = await fetch(`${gateway.url}${path}`, { method, headers, body });
  return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as any };
};

describe('the local API gateway', () => {
  it('answers 401 in the contract shape without a token', async () => {
    const response = await call('GET', '/connections');
    expect(response.status).toBe(401);
    expect(response.type).toContain('application/json');
    expect(response.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String), details: [] } });
  });

  it.each([
    ['garbage', 'Bearer not-a-jwt'],
    ['wrong scheme', 'Basic YWxpY2U6cGFzcw=='],
  ])('answers 401 for a bad token (%s)', async (_name, authorization) => {
    const response = await call('GET', '/connections', { authorization });
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthorized');
  });

  it('answers 401 for an ID token: it has no scope', async () => {
    const { idToken } = await login('alice');
    const response = await call('GET', '/connections', { authorization: `Bearer ${idToken}` });
    expect(response.status).toBe(401);
  });

  it.each([
    ['an unknown path', 'GET', '/nope'],
    ['an unknown method', 'PUT', '/connections'],
    ['a too-deep path', 'GET', '/connections/asana/verify/extra'],
  ])('answers 404 for %s, with or without a token', async (_name, method, path) => {
    const { accessToken } = await login('alice');
    for (const headers of [{}, { authorization: `Bearer ${accessToken}` }] as Record<string, string>[]) {
      const response = await call(method, path, headers);
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('not_found');
    }
  });

  it('answers 501 for a route whose function has not landed', async () => {
    const { accessToken } = await login('alice');
    const response = await call('GET', '/conversations', { authorization: `Bearer ${accessToken}` });
    expect(response.status).toBe(501);
    expect(response.body.error.code).toBe('not_implemented');
  });

  it('hands the function the verified sub, whatever the request claims', async () => {
    const { accessToken } = await login('bob');
    const response = await call(
      'POST',
      '/connections/asana',
      { authorization: `Bearer ${accessToken}`, 'x-user-id': subs.alice!, 'content-type': 'application/json' },
      JSON.stringify({ sub: subs.alice }),
    );
    expect(response.status).toBe(200);
    expect(response.body.caller).toEqual({ sub: subs.bob, username: 'bob' });
    expect(response.body.pathParameters).toEqual({ connection: 'asana' });
    const event = received.at(-1)!;
    expect(event.requestContext.authorizer?.claims.sub).toBe(subs.bob);
    expect(event.resource).toBe('/connections/{connection}');
    expect(event.httpMethod).toBe('POST');
  });
});
