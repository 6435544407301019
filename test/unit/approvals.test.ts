import { describe, expect, it } from 'vitest';
import { decideApproval, getConversation, inputHash, postMessage, resumeConversation, startConversation } from '../../functions/core/chat';
import type { ToolPolicy } from '../../functions/core/tool-policy';
import { callsTools, chatWorld, domainError, expectPaired, isToolResult, says } from '../fakes';

const ALICE = 'sub-alice';
const BOB = 'sub-bob';

function world(toolPolicy: Record<string, ToolPolicy> = { asana_task_create: 'confirm', asana_story_create: 'confirm' }) {
  const w = chatWorld({ settings: { toolPolicy } });
  w.accounts.setStatus(ALICE, 'ACTIVE');
  w.accounts.setStatus(BOB, 'ACTIVE');
  w.accounts.onTool('asana_task_create', ({ input }) => ({
    kind: 'succeeded',
    data: { gid: '77', name: input.name },
    executionId: 'exec-create',
  }));
  return w;
}

const CREATE = { name: 'Ship it', projects: ['1'], assignee: 'me' };

/** Alice asks for a task; Claude wants to create it (a `confirm` tool). */
async function pendingCreate(w: ReturnType<typeof world>) {
  w.model.queue(callsTools([['toolu_create', 'asana_task_create', CREATE]], { text: 'I will create it.' }));
  return startConversation(w.deps, ALICE, { message: 'Create a task "Ship it"' });
}

describe('a confirm tool', () => {
  it('pauses the run as awaiting_approval with the exact call pending, and runs nothing', async () => {
    // Prepare
    const w = world();

    // Act
    const outcome = await pendingCreate(w);

    // Assess
    expect(outcome).toEqual({
      conversationId: expect.stringMatching(/^c_/),
      status: 'awaiting_approval',
      reply: null,
      toolCalls: [],
      pendingApprovals: [{ toolUseId: 'toolu_create', name: 'asana_task_create', input: CREATE }],
      authorizationUrl: null,
    });
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
    expect(w.model.requests).toHaveLength(1);
    const view = await getConversation(w.deps, ALICE, outcome.conversationId);
    expect(view.pendingApprovals).toEqual(outcome.pendingApprovals);
    expect(view.status).toBe('awaiting_approval');
  });

  it('runs the tool exactly once when approved, records who approved what, and continues the run', async () => {
    // Prepare
    const w = world();
    const paused = await pendingCreate(w);
    w.clock.advance(2_000);
    w.model.queue(says('Created "Ship it".'));

    // Act
    const outcome = await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_create', decision: 'approve' });
    const replay = await domainError(() =>
      decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_create', decision: 'approve' }),
    );

    // Assess
    expect(outcome).toMatchObject({ status: 'completed', reply: 'Created "Ship it".', pendingApprovals: [] });
    expect(outcome.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_create', outcome: 'succeeded', input: CREATE })]);
    expect(w.accounts.executionsOf('asana_task_create')).toEqual([
      { identifier: ALICE, connection: 'asana', toolName: 'asana_task_create', input: CREATE },
    ]);
    expect(replay.code).toBe('approval_mismatch');
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(1);
    const [record] = w.conversations.recordsOf(ALICE, paused.conversationId);
    expect(record).toMatchObject({
      toolUseId: 'toolu_create',
      actor: ALICE,
      inputHash: inputHash(CREATE),
      outcome: 'succeeded',
      decision: { decision: 'approve', by: ALICE, at: new Date(w.clock.now()).toISOString(), inputHash: inputHash(CREATE) },
    });
    expectPaired(w.model.requests[1]!.messages);
  });

  it('gives Claude an error result with outcome denied when denied, and never executes', async () => {
    // Prepare
    const w = world();
    const paused = await pendingCreate(w);
    w.model.queue(says('OK, I did not create it.'));

    // Act
    const outcome = await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_create', decision: 'deny' });

    // Assess
    expect(outcome).toMatchObject({ status: 'completed', reply: 'OK, I did not create it.' });
    expect(outcome.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_create', outcome: 'denied' })]);
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
    const results = w.model.requests[1]!.messages.at(-1)!.content.filter(isToolResult);
    expect(results).toEqual([expect.objectContaining({ tool_use_id: 'toolu_create', is_error: true })]);
    const [record] = w.conversations.recordsOf(ALICE, paused.conversationId);
    expect(record).toMatchObject({ outcome: 'denied', decision: { decision: 'deny', by: ALICE, inputHash: inputHash(CREATE) } });
    expect(record?.startedAt).toBeUndefined();
  });

  it('decides two pending calls one by one: the first answers awaiting_approval again, the second continues', async () => {
    // Prepare
    const w = world();
    w.model.queue(
      callsTools([
        ['toolu_create', 'asana_task_create', CREATE],
        ['toolu_read', 'asana_tasks_list', {}],
        ['toolu_comment', 'asana_story_create', { task_gid: '9', text: 'Done' }],
      ]),
    );
    const paused = await startConversation(w.deps, ALICE, { message: 'Create it and comment' });

    // Act
    const afterFirst = await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_comment', decision: 'deny' });
    const executionsAfterFirst = w.accounts.executions.map((execution) => execution.toolName);
    w.model.queue(says('Created; no comment.'));
    const afterSecond = await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_create', decision: 'approve' });

    // Assess
    expect(paused.pendingApprovals.map((approval) => approval.toolUseId)).toEqual(['toolu_create', 'toolu_comment']);
    expect(paused.toolCalls.map((call) => [call.toolUseId, call.outcome])).toEqual([['toolu_read', 'succeeded']]);
    expect(afterFirst).toMatchObject({
      status: 'awaiting_approval',
      toolCalls: [],
      pendingApprovals: [{ toolUseId: 'toolu_create', name: 'asana_task_create', input: CREATE }],
    });
    expect(executionsAfterFirst).toEqual(['asana_tasks_list']);
    expect(afterSecond).toMatchObject({ status: 'completed', reply: 'Created; no comment.', pendingApprovals: [] });
    // toolCalls are listed as they finish: compare them in tool_use order.
    expect(afterSecond.toolCalls.map((call) => [call.toolUseId, call.outcome]).sort()).toEqual([
      ['toolu_comment', 'denied'],
      ['toolu_create', 'succeeded'],
    ]);
    expect(w.accounts.executions.map((execution) => execution.toolName)).toEqual(['asana_tasks_list', 'asana_task_create']);
    const results = w.model.requests[1]!.messages.at(-1)!.content.filter(isToolResult);
    expect(results.map((block) => block.tool_use_id)).toEqual(['toolu_create', 'toolu_read', 'toolu_comment']);
    expect(w.model.requests).toHaveLength(2);
  });

  it.each([
    { case: 'an unknown toolUseId', toolUseId: 'toolu_unknown' },
    { case: 'a toolUseId that never needed approval', toolUseId: 'toolu_read' },
  ])('refuses $case with approval_mismatch and changes nothing', async ({ toolUseId }) => {
    // Prepare
    const w = world();
    w.model.queue(
      callsTools([
        ['toolu_create', 'asana_task_create', CREATE],
        ['toolu_read', 'asana_tasks_list', {}],
      ]),
    );
    const paused = await startConversation(w.deps, ALICE, { message: 'Create it' });

    // Act
    const error = await domainError(() => decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId, decision: 'approve' }));
    const view = await getConversation(w.deps, ALICE, paused.conversationId);

    // Assess
    expect(error.code).toBe('approval_mismatch');
    expect(error.extra.conversationId).toBe(paused.conversationId);
    expect(view.status).toBe('awaiting_approval');
    expect(view.pendingApprovals.map((approval) => approval.toolUseId)).toEqual(['toolu_create']);
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(0);
    expect(w.conversations.leaseOf(ALICE, paused.conversationId)).toBeUndefined();
  });

  it('refuses a decision on a conversation that awaits none with approval_mismatch', async () => {
    // Prepare
    const w = world();
    w.model.queue(says('Hello.'));
    const done = await startConversation(w.deps, ALICE, { message: 'Hi' });

    // Act
    const error = await domainError(() =>
      decideApproval(w.deps, ALICE, done.conversationId, { toolUseId: 'toolu_create', decision: 'approve' }),
    );

    // Assess
    expect(error.code).toBe('approval_mismatch');
    expect(w.model.requests).toHaveLength(1);
  });

  it.each([
    ['messages', (w: ReturnType<typeof world>, id: string) => postMessage(w.deps, ALICE, id, { message: 'Just do it' })],
    ['resume', (w: ReturnType<typeof world>, id: string) => resumeConversation(w.deps, ALICE, id, {})],
  ])('refuses %s while approvals are pending with approval_pending', async (_name, act) => {
    // Prepare
    const w = world();
    const paused = await pendingCreate(w);

    // Act
    const error = await domainError(() => act(w, paused.conversationId));

    // Assess
    expect(error.code).toBe('approval_pending');
    expect(error.extra.conversationId).toBe(paused.conversationId);
    expect(w.model.requests).toHaveLength(1);
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
    expect((await getConversation(w.deps, ALICE, paused.conversationId)).messages).toHaveLength(2);
  });

  it("cannot be approved by another user: Bob's decision on Alice's call is not_found", async () => {
    // Prepare
    const w = world();
    const paused = await pendingCreate(w);

    // Act
    const error = await domainError(() =>
      decideApproval(w.deps, BOB, paused.conversationId, { toolUseId: 'toolu_create', decision: 'approve' }),
    );

    // Assess
    expect(error.code).toBe('not_found');
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
    expect((await getConversation(w.deps, ALICE, paused.conversationId)).pendingApprovals).toHaveLength(1);
  });

  it('binds the approval to the stored input: a record whose input changed is not decided', async () => {
    // Prepare: the stored record's input hash no longer matches what is pending
    const w = world();
    const paused = await pendingCreate(w);
    const [record] = w.conversations.recordsOf(ALICE, paused.conversationId);
    const decided = await w.conversations.decideTool(ALICE, paused.conversationId, 'toolu_create', {
      decision: 'approve',
      by: ALICE,
      at: new Date(w.clock.now()).toISOString(),
      inputHash: inputHash({ ...CREATE, assignee: 'someone-else' }),
    });

    // Act
    w.model.queue(says('Created.'));
    const outcome = await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_create', decision: 'approve' });

    // Assess
    expect(record?.inputHash).toBe(inputHash(CREATE));
    expect(decided).toBe(false);
    expect(outcome.status).toBe('completed');
    expect(w.accounts.executionsOf('asana_task_create')).toEqual([expect.objectContaining({ input: CREATE })]);
  });
});

describe('a deny tool', () => {
  it('is never offered to Claude and never reaches Scalekit even when Claude asks for it', async () => {
    // Prepare
    const w = world({ asana_task_delete: 'deny' });
    w.model.queue(callsTools([['toolu_delete', 'asana_task_delete', { task_gid: '9' }]]), says('I am not allowed to delete tasks.'));

    // Act
    const outcome = await startConversation(w.deps, ALICE, { message: 'Delete task 9' });

    // Assess
    expect(w.model.requests[0]?.tools.map((tool) => tool.name)).not.toContain('asana_task_delete');
    expect(w.model.requests[0]?.tools.map((tool) => tool.name)).toContain('asana_task_create');
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
    expect(outcome.status).toBe('completed');
    expect(outcome.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_delete', outcome: 'denied' })]);
    const [result] = w.model.requests[1]!.messages.at(-1)!.content.filter(isToolResult);
    expect(result).toMatchObject({ tool_use_id: 'toolu_delete', is_error: true });
  });
});
