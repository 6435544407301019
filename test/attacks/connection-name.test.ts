import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeConsent } from '../../client/consent';
import { api, login } from '../support/auth';
import { person, VERIFY_URL } from '../support/connect';
import { ownStack } from '../support/own-stack';

// Scalekit may name the Asana connection anything (`asana-7fq2`): the deployment is configured
// with that name, and everything (pinning included) must work under it.
const USER = 'tage';
const CONNECTION = 'asana-7fq2';
let own: Awaited<ReturnType<typeof ownStack>>;
let token: string;

const call = (method: string, path: string, body?: unknown) => api(method, path, { token, body, apiUrl: own.apiUrl });

beforeAll(async () => {
  own = await ownStack({ env: { ONBEHALF_CONNECTIONS: CONNECTION } });
  token = (await login(USER)).accessToken;
});
afterAll(async () => {
  await own?.close();
});

describe('a connection configured under another name', () => {
  it('connects, verifies and pins the Asana account, lists it, and chats through it', async () => {
    // Act
    const started = await call('POST', `/connections/${CONNECTION}`, { verifyUrl: VERIFY_URL });
    const who = person(USER);
    const landing = await completeConsent(started.body.authorizationUrl, { email: who.email, password: who.password });
    const verified = await call('POST', `/connections/${CONNECTION}/verify`, {
      authRequestId: landing.searchParams.get('auth_request_id'),
      state: landing.searchParams.get('state'),
    });
    const listed = await call('GET', '/connections');
    const run = await call('POST', '/conversations', { message: 'List my open tasks' });
    const plain = await call('POST', '/connections/asana', { verifyUrl: VERIFY_URL });

    // Assess
    expect(started.body).toMatchObject({ connection: CONNECTION, status: 'PENDING_AUTH' });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ connection: CONNECTION, status: 'ACTIVE', account: { gid: who.asanaGid, email: who.email } });
    expect(listed.body.connections).toEqual([
      { connection: CONNECTION, status: 'ACTIVE', account: expect.objectContaining({ gid: who.asanaGid }), checkedAt: expect.any(String) },
    ]);
    expect(run.body.status).toBe('completed');
    expect(run.body.toolCalls.length).toBeGreaterThan(0);
    for (const toolCall of run.body.toolCalls) expect(toolCall.outcome).toBe('succeeded');
    expect(plain.status).toBe(404);
    expect(plain.body.error.code).toBe('unknown_connection');
  });
});
