import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { completeConsent } from '../../client/consent';
import { api, login } from '../support/auth';
import { person, VERIFY_URL } from '../support/connect';
import { ownStack } from '../support/own-stack';
import { cursor, scalekitControl } from '../stack/control';
import { marker, script, textTurn, toolTurn } from '../support/standins';

// What real Scalekit answers for an inactive account is not documented: whatever gRPC code a
// tool call comes back with, the user is asked to reconnect only when Scalekit's status of the
// account says so. Faults apply to a whole emulator, so this file has a Scalekit of its own.
const USER = 'toril';
const subs = inject('subs');
let own: Awaited<ReturnType<typeof ownStack>>;
let token: string;

const call = (method: string, path: string, body?: unknown) => api(method, path, { token, body, apiUrl: own.apiUrl });
const rpcsSince = (since: number) => scalekitControl(own.scalekit.url).rpcs(since);
const rpcCursor = () => cursor(() => rpcsSince(0));

beforeAll(async () => {
  own = await ownStack();
  token = (await login(USER)).accessToken;
  const started = await call('POST', '/connections/asana', { verifyUrl: VERIFY_URL });
  const who = person(USER);
  const landing = await completeConsent(started.body.authorizationUrl, { email: who.email, password: who.password });
  const verified = await call('POST', '/connections/asana/verify', {
    authRequestId: landing.searchParams.get('auth_request_id'),
    state: landing.searchParams.get('state'),
  });
  expect(verified.body.status).toBe('ACTIVE');
});
afterAll(async () => {
  await own?.close();
});

/** A run whose only tool call is answered `code` by Scalekit (once). */
async function runAnswered(code: string) {
  const tag = marker(`code ${code}`);
  await script(tag, [toolTurn({ name: 'asana_me_get', input: {} }), textTurn('Told the user.')]);
  await scalekitControl(own.scalekit.url).setFault({ rpc: 'ExecuteTool', code, times: 1 });
  return call('POST', '/conversations', { message: `Who am I? ${tag}` });
}

describe('a tool call refused while the account is ACTIVE never asks for a reconnect', () => {
  it.each(['FAILED_PRECONDITION', 'PERMISSION_DENIED', 'NOT_FOUND', 'INVALID_ARGUMENT'])(
    '%s: an ordinary failed call; Claude gets the message and the run completes',
    async (code) => {
      // Act
      const run = await runAnswered(code);

      // Assess
      expect(run.status).toBe(201);
      expect(run.body).toMatchObject({ status: 'completed', authorizationUrl: null });
      expect(run.body.toolCalls).toEqual([expect.objectContaining({ name: 'asana_me_get', outcome: 'failed' })]);
      const shown = await call('GET', `/conversations/${run.body.conversationId}`);
      const results = shown.body.messages.flatMap((message: { content: { type: string }[] }) =>
        message.content.filter((block) => block.type === 'tool_result'),
      );
      expect(JSON.stringify(results)).toContain('injected fault');
    },
  );

  it.each(['UNAVAILABLE', 'INTERNAL', 'DEADLINE_EXCEEDED', 'UNKNOWN', 'ABORTED'])(
    '%s: sent and unanswered, so unknown (never re-sent); no reconnect',
    async (code) => {
      // Act
      const run = await runAnswered(code);

      // Assess
      expect(run.body).toMatchObject({ status: 'completed', authorizationUrl: null });
      expect(run.body.toolCalls).toEqual([expect.objectContaining({ name: 'asana_me_get', outcome: 'unknown' })]);
    },
  );

  it.each([
    ['UNAUTHENTICATED', 502],
    ['RESOURCE_EXHAUSTED', 503],
  ])('%s (refused at the door, not run): %i with the conversation kept; resume runs the call', async (code, status) => {
    // Act
    const run = await runAnswered(code);
    const resumed = await call('POST', `/conversations/${run.body.conversationId}/resume`);

    // Assess
    expect(run.status).toBe(status);
    expect(run.body.conversationId).toMatch(/^c_/);
    expect(resumed.body).toMatchObject({ status: 'completed' });
    expect(resumed.body.toolCalls).toEqual([expect.objectContaining({ name: 'asana_me_get', outcome: 'succeeded' })]);
  });
});

describe('status reads carry no tokens', () => {
  it('a chat and GET /connections never call GetConnectedAccountAuth (which returns the OAuth tokens)', async () => {
    // Prepare
    const since = await rpcCursor();

    // Act
    const run = await call('POST', '/conversations', { message: 'List my open tasks' });
    const listed = await call('GET', '/connections');

    // Assess
    expect(run.body.status).toBe('completed');
    expect(listed.body.connections[0].status).toBe('ACTIVE');
    const mine = (await rpcsSince(since)).filter((rpc) => rpc.identifier === subs[USER]);
    expect(mine.map((rpc) => rpc.rpc)).toContain('ListConnectedAccounts');
    expect(mine.map((rpc) => rpc.rpc)).not.toContain('GetConnectedAccountAuth');
  });
});
