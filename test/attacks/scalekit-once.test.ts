import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { completeConsent } from '../../client/consent';
import { ScalekitConnectedAccounts } from '../../functions/adapters/scalekit';
import { api, login } from '../support/auth';
import { person, VERIFY_URL } from '../support/connect';
import { ownStack } from '../support/own-stack';
import { asanaControl, cursor, scalekitControl } from '../stack/control';
import { marker, script, textTurn, toolTurn } from '../support/standins';

// Scalekit answering `UNAVAILABLE` must never make us send the same action twice: the SDK's own
// client re-sends such calls up to three times. Faults apply to a whole emulator, so this file
// runs the real handlers against a Scalekit (and Asana) of its own.
const USER = 'tarik';
const subs = inject('subs');
const workspaceGid = inject('world').workspace.gid;
let own: Awaited<ReturnType<typeof ownStack>>;
let token: string;

beforeAll(async () => {
  own = await ownStack({ env: { ONBEHALF_TOOL_POLICY: JSON.stringify({ asana_task_create: 'allow' }) } });
  token = (await login(USER)).accessToken;
});
afterAll(async () => {
  await own?.close();
});

const call = (method: string, path: string, body?: unknown) => api(method, path, { token, body, apiUrl: own.apiUrl });
const rpcsSince = (since: number) => scalekitControl(own.scalekit.url).rpcs(since);
const rpcCursor = () => cursor(() => rpcsSince(0));
const fault = (rpc: string, afterExecuting: boolean) =>
  scalekitControl(own.scalekit.url).setFault({ rpc, code: 'UNAVAILABLE', times: 1, afterExecuting });
const asanaRequests = (since: number) => asanaControl(own.asana.url).requests(since);

/** A fresh consent of the user (not yet verified): the verify parameters the browser would land with. */
async function consented(): Promise<{ authRequestId: string; state: string }> {
  const started = await call('POST', '/connections/asana', { verifyUrl: VERIFY_URL });
  expect(started.body.status).not.toBe('ACTIVE');
  const who = person(USER);
  const landing = await completeConsent(started.body.authorizationUrl, { email: who.email, password: who.password });
  return { authRequestId: landing.searchParams.get('auth_request_id') ?? '', state: landing.searchParams.get('state') ?? '' };
}

describe('a verify whose RPC fails is sent once', () => {
  it('UNAVAILABLE before it took effect: one RPC, 503 with the state kept, and the retry verifies', async () => {
    // Prepare
    expect((await call('DELETE', '/connections/asana')).status).toBe(204);
    const params = await consented();
    const since = await rpcCursor();
    await fault('VerifyConnectedAccountUser', false);

    // Act
    const failed = await call('POST', '/connections/asana/verify', params);
    const verifies = (await rpcsSince(since)).filter((rpc) => rpc.rpc === 'VerifyConnectedAccountUser');
    const retried = await call('POST', '/connections/asana/verify', params);

    // Assess
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe('upstream_unavailable');
    expect(verifies).toEqual([{ seq: expect.any(Number), rpc: 'VerifyConnectedAccountUser', identifier: subs[USER], code: 'UNAVAILABLE' }]);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ status: 'ACTIVE', account: { gid: person(USER).asanaGid } });
  });

  it('UNAVAILABLE after it took effect: one RPC, the ACTIVE account makes it a success, pinned as usual', async () => {
    // Prepare
    expect((await call('DELETE', '/connections/asana')).status).toBe(204);
    const params = await consented();
    const since = await rpcCursor();
    await fault('VerifyConnectedAccountUser', true);

    // Act
    const verified = await call('POST', '/connections/asana/verify', params);
    const repeat = await call('POST', '/connections/asana/verify', params);
    const listed = await call('GET', '/connections');

    // Assess: the repeat is answered from the used state, without another RPC.
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ status: 'ACTIVE', account: { gid: person(USER).asanaGid } });
    expect(repeat).toMatchObject({ status: 200, body: verified.body });
    const verifies = (await rpcsSince(since)).filter((rpc) => rpc.rpc === 'VerifyConnectedAccountUser');
    expect(verifies).toEqual([{ seq: expect.any(Number), rpc: 'VerifyConnectedAccountUser', identifier: subs[USER], code: 'UNAVAILABLE' }]);
    expect(listed.body.connections[0]).toMatchObject({ status: 'ACTIVE', account: { gid: person(USER).asanaGid } });
  });
});

describe.each([
  { when: 'before it ran', afterExecuting: false, writes: 0 },
  { when: 'after it ran', afterExecuting: true, writes: 1 },
])('an ExecuteTool answered UNAVAILABLE $when', ({ afterExecuting, writes }) => {
  it('is sent once, its outcome is unknown, Asana sees at most the one write, and resume never re-sends it', async () => {
    // Prepare
    const tag = marker('once');
    await script(tag, [
      toolTurn({ name: 'asana_task_create', input: { name: `Once ${tag}`, workspace_gid: workspaceGid } }),
      textTurn('Unknown.'),
    ]);
    const since = await rpcCursor();
    const asanaSince = await cursor(() => asanaRequests(0));
    await fault('ExecuteTool', afterExecuting);

    // Act
    const run = await call('POST', '/conversations', { message: `Create a task ${tag}` });
    const resumed = await call('POST', `/conversations/${run.body.conversationId}/resume`);

    // Assess
    expect(run.status).toBe(201);
    expect(run.body.status).toBe('completed');
    expect(run.body.toolCalls).toEqual([expect.objectContaining({ name: 'asana_task_create', outcome: 'unknown' })]);
    const executes = (await rpcsSince(since)).filter((rpc) => rpc.rpc === 'ExecuteTool');
    expect(executes).toEqual([{ seq: expect.any(Number), rpc: 'ExecuteTool', identifier: subs[USER], code: 'UNAVAILABLE' }]);
    const creates = (await asanaRequests(asanaSince)).filter((request) => request.method === 'POST');
    expect(creates).toHaveLength(writes);
    expect(resumed.body).toMatchObject({ status: 'completed', toolCalls: [] });
    const shown = await call('GET', `/conversations/${run.body.conversationId}`);
    expect(shown.body.toolCalls).toEqual([expect.objectContaining({ outcome: 'unknown' })]);
  });
});

describe('a cold client fetches its token before an at-most-once RPC', () => {
  it('sends ExecuteTool once, never first without a token', async () => {
    // Prepare: a client that has never called Scalekit, as after a cold start.
    const fresh = new ScalekitConnectedAccounts({
      environmentUrl: own.scalekit.url,
      clientId: 'skc_own',
      clientSecret: own.scalekitSecret,
    });
    const since = await rpcCursor();

    // Act
    const result = await fresh.execute(subs[USER]!, 'asana', 'asana_me_get', {});

    // Assess
    expect(result.kind).toBe('succeeded');
    expect(await rpcsSince(since)).toEqual([{ seq: expect.any(Number), rpc: 'ExecuteTool', identifier: subs[USER], code: 'OK' }]);
  });

  it('sends VerifyConnectedAccountUser once, never first without a token', async () => {
    // Prepare
    const fresh = new ScalekitConnectedAccounts({
      environmentUrl: own.scalekit.url,
      clientId: 'skc_own',
      clientSecret: own.scalekitSecret,
    });
    const since = await rpcCursor();

    // Act
    const result = await fresh.verify(subs[USER]!, 'ar_never_issued');

    // Assess
    expect(result).toBe('refused');
    expect(await rpcsSince(since)).toEqual([
      { seq: expect.any(Number), rpc: 'VerifyConnectedAccountUser', identifier: subs[USER], code: 'NOT_FOUND' },
    ]);
  });
});
