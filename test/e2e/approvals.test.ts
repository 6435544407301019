import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localDynamoClient } from '../../infra/local/dynamodb';
import type { LocalService } from '../../infra/local/service';
import { api, login } from '../support/auth';
import { chatGateway, crashAt } from '../support/chat-gateway';
import { connected } from '../support/connect';
import { cursor, executions, marker, script, textTurn, toolTurn } from '../support/standins';

const stack = inject('stack');
const subs = inject('subs');
const world = inject('world');
const website = world.projects.find((project) => project.public)!;
const USER = 'tia';
const policy = { asana_task_create: 'confirm', asana_story_create: 'deny' } as const;
const LEASE_MS = 800;
let token: string;
let gateway: LocalService;
const extra: LocalService[] = [];
const raw = localDynamoClient(stack.dynamodbUrl);
const db = DynamoDBDocumentClient.from(raw);

beforeAll(async () => {
  token = await connected(USER);
  gateway = await chatGateway({ settings: { toolPolicy: policy, leaseMs: LEASE_MS } });
});
afterAll(async () => {
  await gateway.close();
  for (const other of extra) await other.close();
  raw.destroy();
});

const call = (method: string, path: string, body?: unknown, as = token, at = gateway) =>
  api(method, path, { token: as, body, apiUrl: at.url });
const createUse = (name: string) => ({
  id: `toolu_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
  name: 'asana_task_create',
  input: { name, projects: website.gid, workspace_gid: world.workspace.gid },
});
const created = async (since: number) =>
  (await executions(since)).filter((execution) => execution.identifier === subs[USER] && execution.toolName === 'asana_task_create');

describe('tool policy: confirm', () => {
  it('pauses for approval and runs the tool exactly once when approved', async () => {
    // Prepare
    const tag = marker('approve');
    const use = createUse(`Approved ${tag}`);
    await script(tag, [toolTurn(use), textTurn('Created.')]);
    const since = await cursor(executions);
    // Act
    const paused = await call('POST', '/conversations', { message: `${tag} create it` });
    // Assess
    expect(paused.status).toBe(201);
    expect(paused.body).toMatchObject({
      status: 'awaiting_approval',
      reply: null,
      toolCalls: [],
      pendingApprovals: [{ toolUseId: use.id, name: use.name, input: use.input }],
    });
    expect(await created(since)).toHaveLength(0);
    const id = paused.body.conversationId;
    expect((await call('POST', `/conversations/${id}/messages`, { message: 'hurry' })).body.error.code).toBe('approval_pending');
    expect((await call('POST', `/conversations/${id}/resume`, {})).status).toBe(409);
    const done = await call('POST', `/conversations/${id}/approvals`, { toolUseId: use.id, decision: 'approve' });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      status: 'completed',
      reply: 'Created.',
      toolCalls: [expect.objectContaining({ toolUseId: use.id, outcome: 'succeeded' })],
    });
    expect(await created(since)).toHaveLength(1);
    const replay = await call('POST', `/conversations/${id}/approvals`, { toolUseId: use.id, decision: 'approve' });
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('approval_mismatch');
    expect(await created(since)).toHaveLength(1);
    // The audit: who decided, on exactly which input.
    const record = await db.send(
      new GetCommand({ TableName: stack.tableName, Key: { pk: `USER#${subs[USER]}`, sk: `TOOL#${id}#${use.id}` } }),
    );
    expect(record.Item?.decision).toMatchObject({
      decision: 'approve',
      by: subs[USER],
      inputHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(record.Item?.inputHash).toBe(record.Item?.decision.inputHash);
    expect(record.Item?.outcome).toBe('succeeded');
  });

  it('tells Claude the user declined when denied, and never runs the tool', async () => {
    const tag = marker('deny');
    const use = createUse(`Denied ${tag}`);
    await script(tag, [toolTurn(use), textTurn('Understood, not created.')]);
    const since = await cursor(executions);
    const paused = await call('POST', '/conversations', { message: `${tag} create it` });
    const done = await call('POST', `/conversations/${paused.body.conversationId}/approvals`, { toolUseId: use.id, decision: 'deny' });
    expect(done.body).toMatchObject({ status: 'completed', toolCalls: [expect.objectContaining({ outcome: 'denied', durationMs: 0 })] });
    expect(await created(since)).toHaveLength(0);
    const stored = await call('GET', `/conversations/${paused.body.conversationId}`);
    expect(stored.body.messages[2].content[0]).toMatchObject({
      type: 'tool_result',
      tool_use_id: use.id,
      is_error: true,
      content: expect.stringContaining('declined'),
    });
  });

  it('decides several pending calls one by one, then continues in the same request', async () => {
    const tag = marker('several');
    const first = createUse(`First ${tag}`);
    const second = createUse(`Second ${tag}`);
    await script(tag, [toolTurn(first, second, { name: 'asana_me_get', input: {} }), textTurn('Both handled.')]);
    const since = await cursor(executions);
    const paused = await call('POST', '/conversations', { message: `${tag} two tasks` });
    expect(paused.body.pendingApprovals.map((approval: { toolUseId: string }) => approval.toolUseId)).toEqual([first.id, second.id]);
    const id = paused.body.conversationId;
    const one = await call('POST', `/conversations/${id}/approvals`, { toolUseId: second.id, decision: 'deny' });
    expect(one.body).toMatchObject({ status: 'awaiting_approval', pendingApprovals: [expect.objectContaining({ toolUseId: first.id })] });
    expect(
      (await call('POST', `/conversations/${id}/approvals`, { toolUseId: 'toolu_unknown', decision: 'approve' })).body.error.code,
    ).toBe('approval_mismatch');
    const two = await call('POST', `/conversations/${id}/approvals`, { toolUseId: first.id, decision: 'approve' });
    expect(two.body.status).toBe('completed');
    const outcomes = Object.fromEntries(
      two.body.toolCalls.map((toolCall: { toolUseId: string; outcome: string }) => [toolCall.toolUseId, toolCall.outcome]),
    );
    expect(outcomes[first.id]).toBe('succeeded');
    expect(outcomes[second.id]).toBe('denied');
    expect(await created(since)).toHaveLength(1);
  });

  it("gives another user's approval 404", async () => {
    const tag = marker('other');
    const use = createUse(`Other ${tag}`);
    await script(tag, [toolTurn(use), textTurn('Done.')]);
    const paused = await call('POST', '/conversations', { message: `${tag} mine` });
    const { accessToken: intruder } = await login('ted');
    const response = await call(
      'POST',
      `/conversations/${paused.body.conversationId}/approvals`,
      { toolUseId: use.id, decision: 'approve' },
      intruder,
    );
    expect(response.status).toBe(404);
    expect((await call('GET', `/conversations/${paused.body.conversationId}`)).body.status).toBe('awaiting_approval');
  });

  it('runs an approved tool once even when the request crashes right after the approval is saved', async () => {
    const tag = marker('approval-crash');
    const use = createUse(`Crash ${tag}`);
    await script(tag, [toolTurn(use), textTurn('Created after all.')]);
    const since = await cursor(executions);
    const paused = await call('POST', '/conversations', { message: `${tag} create` });
    const faulty = await chatGateway({ settings: { toolPolicy: policy, leaseMs: LEASE_MS }, faults: crashAt('after_approval_saved') });
    extra.push(faulty);
    const crashed = await call(
      'POST',
      `/conversations/${paused.body.conversationId}/approvals`,
      { toolUseId: use.id, decision: 'approve' },
      token,
      faulty,
    );
    expect(crashed.status).toBeGreaterThanOrEqual(500);
    await new Promise((done) => setTimeout(done, LEASE_MS + 100));
    const after = await call('GET', `/conversations/${paused.body.conversationId}`);
    const resumed =
      after.body.status === 'awaiting_approval'
        ? await call('POST', `/conversations/${paused.body.conversationId}/approvals`, { toolUseId: use.id, decision: 'approve' })
        : await call('POST', `/conversations/${paused.body.conversationId}/resume`, {});
    expect(resumed.body).toMatchObject({ status: 'completed', reply: 'Created after all.' });
    expect(await created(since)).toHaveLength(1);
  });
});

describe('tool policy: deny', () => {
  it('never offers nor runs a denied tool, and says the user declined', async () => {
    const tag = marker('policy-deny');
    const use = { name: 'asana_story_create', input: { task_gid: world.tasks[0]!.gid, text: 'no' } };
    await script(tag, [toolTurn(use), textTurn('Not allowed.')]);
    const since = await cursor(executions);
    const run = await call('POST', '/conversations', { message: `${tag} comment` });
    expect(run.body).toMatchObject({
      status: 'completed',
      toolCalls: [expect.objectContaining({ name: 'asana_story_create', outcome: 'denied' })],
    });
    expect((await executions(since)).filter((execution) => execution.toolName === 'asana_story_create')).toEqual([]);
  });
});
