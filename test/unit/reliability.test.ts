import { markUntrusted } from '../../functions/core/tool-output';
import { describe, expect, it } from 'vitest';
import {
  decideApproval,
  getConversation,
  postMessage,
  type RunOutcome,
  resumeConversation,
  startConversation,
} from '../../functions/core/chat';
import type { ModelResponse, ToolOutcome } from '../../functions/core/domain';
import { RESULT_WAIT_MS } from '../../functions/core/chat/tool-calls';
import type { CrashPoint } from '../../functions/core/faults';
import type { WriteOptions } from '../../functions/core/ports';
import { callsTools, chatWorld, deferred, domainError, expectPaired, isToolResult, says, settle, SimulatedCrash } from '../fakes';

const ALICE = 'sub-alice';
const LEASE_MS = 60_000;

function world(settings: Parameters<typeof chatWorld>[0] = {}) {
  // These cases are about crashes, not approvals: the deployment lets writes run unasked.
  const w = chatWorld({ ...settings, settings: { leaseMs: LEASE_MS, toolPolicy: { write: 'allow' }, ...settings.settings } });
  w.accounts.setStatus(ALICE, 'ACTIVE');
  w.accounts.onTool('asana_task_create', ({ input }) => ({
    kind: 'succeeded',
    data: { gid: '77', name: input.name },
    executionId: 'exec-77',
  }));
  return w;
}

/** The conversation id of the newest conversation of the caller (the crashed request never answered). */
async function newestConversation(w: ReturnType<typeof world>): Promise<string> {
  const [header] = (await w.conversations.list(ALICE, 1, undefined)).items;
  return header!.id;
}

/**
 * After a crash: the lease is still held, so a resume is refused until it expires; then a new
 * process resumes.
 */
async function resumeAfterCrash(w: ReturnType<typeof world>, id: string): Promise<{ busy: string; outcome: RunOutcome }> {
  w.faults.recover();
  const busy = await domainError(() => resumeConversation(w.deps, ALICE, id, {}));
  w.clock.advance(LEASE_MS + 1);
  return { busy: busy.code, outcome: await resumeConversation(w.deps, ALICE, id, {}) };
}

describe.each<{
  point: CrashPoint;
  executions: number;
  resumedCalls: [string, ToolOutcome][];
  modelCalls: number;
  resultIsError: boolean;
}>([
  { point: 'after_assistant_saved', executions: 1, resumedCalls: [['toolu_1', 'succeeded']], modelCalls: 2, resultIsError: false },
  { point: 'after_tool_started', executions: 0, resumedCalls: [['toolu_1', 'unknown']], modelCalls: 2, resultIsError: true },
  { point: 'after_tools_finished', executions: 1, resumedCalls: [], modelCalls: 2, resultIsError: false },
  // The run's last write (the answer) gives the lease back: a crash before it loses the answer,
  // never the tool's result, and resume asks Claude again.
  { point: 'before_lease_released', executions: 1, resumedCalls: [], modelCalls: 3, resultIsError: false },
])('a crash at $point, then resume once the lease expired', ({ point, executions, resumedCalls, modelCalls, resultIsError }) => {
  it('never runs the tool twice, reports what it cannot know as unknown, and keeps the history paired', async () => {
    // Prepare
    const w = world();
    w.model.queue(callsTools([['toolu_1', 'asana_task_create', { name: 'Ship it' }]]), says('Done.'), says('Done.'));
    w.faults.arm(point);

    // Act
    const crash = await startConversation(w.deps, ALICE, { message: 'Create "Ship it"' }).catch((error: unknown) => error);
    await settle();
    const id = await newestConversation(w);
    const leaseAfterCrash = w.conversations.leaseOf(ALICE, id);
    const { busy, outcome } = await resumeAfterCrash(w, id);
    const again = await resumeConversation(w.deps, ALICE, id, {});

    // Assess
    expect(crash).toBeInstanceOf(SimulatedCrash);
    expect(leaseAfterCrash).toBeDefined();
    expect(busy).toBe('conversation_busy');
    expect(outcome).toMatchObject({ conversationId: id, status: 'completed', reply: 'Done.' });
    expect(outcome.toolCalls.map((call) => [call.toolUseId, call.outcome])).toEqual(resumedCalls);
    expect(again).toMatchObject({ status: 'completed', reply: 'Done.', toolCalls: [] });
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(executions);
    expect(w.model.requests).toHaveLength(modelCalls);
    for (const request of w.model.requests) expectPaired(request.messages);
    const [result] = w.model.requests[1]!.messages.at(-1)!.content.filter(isToolResult);
    expect(result?.tool_use_id).toBe('toolu_1');
    expect(result?.is_error === true).toBe(resultIsError);
    const view = await getConversation(w.deps, ALICE, id);
    expectPaired(view.messages);
    expect(view.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(view.toolCalls).toHaveLength(1);
    expect(w.conversations.leaseOf(ALICE, id)).toBeUndefined();
  });
});

describe('crashes around several tools of one message', () => {
  const twoTools = callsTools([
    ['toolu_1', 'asana_task_create', { name: 'One' }],
    ['toolu_2', 'asana_task_create', { name: 'Two' }],
  ]);

  it('after the tools started: neither is run again, both are reported unknown', async () => {
    // Prepare
    const w = world();
    w.model.queue(twoTools, says('Unsure whether they exist.'));
    w.faults.arm('after_tool_started');

    // Act
    await startConversation(w.deps, ALICE, { message: 'Create two' }).catch(() => undefined);
    await settle();
    const { outcome } = await resumeAfterCrash(w, await newestConversation(w));

    // Assess
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(0);
    expect(outcome.toolCalls.map((call) => [call.toolUseId, call.outcome]).sort()).toEqual([
      ['toolu_1', 'unknown'],
      ['toolu_2', 'unknown'],
    ]);
    const results = w.model.requests[1]!.messages.at(-1)!.content.filter(isToolResult);
    expect(results.map((block) => [block.tool_use_id, block.is_error])).toEqual([
      ['toolu_1', true],
      ['toolu_2', true],
    ]);
  });

  it('after the tools finished: their stored results are sent, in order, with no re-execution', async () => {
    // Prepare
    const w = world();
    w.model.queue(twoTools, says('Both created.'));
    w.faults.arm('after_tools_finished');

    // Act
    await startConversation(w.deps, ALICE, { message: 'Create two' }).catch(() => undefined);
    await settle();
    const { outcome } = await resumeAfterCrash(w, await newestConversation(w));

    // Assess
    expect(outcome).toMatchObject({ status: 'completed', reply: 'Both created.' });
    expect(
      w.accounts
        .executionsOf('asana_task_create')
        .map((execution) => execution.input.name)
        .sort(),
    ).toEqual(['One', 'Two']);
    const results = w.model.requests[1]!.messages.at(-1)!.content.filter(isToolResult);
    expect(results).toEqual([
      {
        type: 'tool_result',
        tool_use_id: 'toolu_1',
        content: markUntrusted('asana_task_create', JSON.stringify({ gid: '77', name: 'One' })),
      },
      {
        type: 'tool_result',
        tool_use_id: 'toolu_2',
        content: markUntrusted('asana_task_create', JSON.stringify({ gid: '77', name: 'Two' })),
      },
    ]);
  });

  it('while a tool was executing: it ran once, is reported unknown, and is never run again', async () => {
    // Prepare
    const w = world();
    w.accounts.onTool('asana_task_create', () => {
      throw w.faults.die();
    });
    w.model.queue(callsTools([['toolu_1', 'asana_task_create', { name: 'One' }]]), says('It may exist.'));

    // Act
    await startConversation(w.deps, ALICE, { message: 'Create one' }).catch(() => undefined);
    await settle();
    const id = await newestConversation(w);
    const { outcome } = await resumeAfterCrash(w, id);

    // Assess
    expect(w.accounts.started).toHaveLength(1);
    expect(outcome.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_1', outcome: 'unknown' })]);
    expect(w.conversations.recordsOf(ALICE, id)).toEqual([expect.objectContaining({ outcome: 'unknown', isError: true })]);
  });
});

describe('a crash right after an approval is saved', () => {
  function confirmWorld() {
    return world({ settings: { toolPolicy: { asana_task_create: 'confirm' } } });
  }

  it('resume runs the approved tool exactly once; a replayed approval is a mismatch', async () => {
    // Prepare
    const w = confirmWorld();
    w.model.queue(callsTools([['toolu_1', 'asana_task_create', { name: 'Ship it' }]]));
    const paused = await startConversation(w.deps, ALICE, { message: 'Create "Ship it"' });
    w.faults.arm('after_approval_saved');

    // Act
    const crash = await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_1', decision: 'approve' }).catch(
      (error: unknown) => error,
    );
    w.model.queue(says('Created.'));
    const { busy, outcome } = await resumeAfterCrash(w, paused.conversationId);
    const replay = await domainError(() =>
      decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_1', decision: 'approve' }),
    );

    // Assess
    expect(paused.status).toBe('awaiting_approval');
    expect(crash).toBeInstanceOf(SimulatedCrash);
    expect(busy).toBe('conversation_busy');
    expect(outcome).toMatchObject({ status: 'completed', reply: 'Created.', pendingApprovals: [] });
    expect(outcome.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_1', outcome: 'succeeded' })]);
    expect(replay.code).toBe('approval_mismatch');
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(1);
    for (const request of w.model.requests) expectPaired(request.messages);
  });

  it('a decision saved before the crash cannot be changed by a replay', async () => {
    // Prepare
    const w = confirmWorld();
    w.model.queue(callsTools([['toolu_1', 'asana_task_create', { name: 'Ship it' }]]));
    const paused = await startConversation(w.deps, ALICE, { message: 'Create "Ship it"' });
    w.faults.arm('after_approval_saved');
    await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_1', decision: 'approve' }).catch(() => undefined);
    w.faults.recover();
    w.clock.advance(LEASE_MS + 1);

    // Act
    const replay = await domainError(() =>
      decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_1', decision: 'deny' }),
    );
    const [record] = w.conversations.recordsOf(ALICE, paused.conversationId);

    // Assess
    expect(replay.code).toBe('approval_mismatch');
    expect(record?.decision).toMatchObject({ decision: 'approve', by: ALICE });
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
  });

  it('a saved denial is honoured on resume: the tool never runs', async () => {
    // Prepare
    const w = confirmWorld();
    w.model.queue(callsTools([['toolu_1', 'asana_task_create', { name: 'Ship it' }]]));
    const paused = await startConversation(w.deps, ALICE, { message: 'Create "Ship it"' });
    w.faults.arm('after_approval_saved');
    await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_1', decision: 'deny' }).catch(() => undefined);
    w.model.queue(says('Not created.'));

    // Act
    const { outcome } = await resumeAfterCrash(w, paused.conversationId);

    // Assess
    expect(outcome.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_1', outcome: 'denied' })]);
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
  });

  it('with two pending, deciding the other one after the crash continues the run', async () => {
    // Prepare
    const w = confirmWorld();
    w.model.queue(
      callsTools([
        ['toolu_1', 'asana_task_create', { name: 'One' }],
        ['toolu_2', 'asana_task_create', { name: 'Two' }],
      ]),
    );
    const paused = await startConversation(w.deps, ALICE, { message: 'Create two' });
    w.faults.arm('after_approval_saved');
    await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_1', decision: 'approve' }).catch(() => undefined);
    w.faults.recover();
    w.clock.advance(LEASE_MS + 1);
    w.model.queue(says('Both created.'));

    // Act
    const outcome = await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_2', decision: 'approve' });

    // Assess
    expect(outcome).toMatchObject({ status: 'completed', reply: 'Both created.', pendingApprovals: [] });
    expect(
      w.accounts
        .executionsOf('asana_task_create')
        .map((execution) => execution.input.name)
        .sort(),
    ).toEqual(['One', 'Two']);
  });
});

describe('a request that lost its lease', () => {
  it('cannot write once another request took the expired lease over', async () => {
    // Prepare: the first request hangs in the model call past its lease
    const w = world();
    const gate = deferred<ModelResponse>();
    w.model.queue(() => gate.promise, says('Answer from the second request.'));
    const first = startConversation(w.deps, ALICE, { message: 'Hello' }).catch((error: unknown) => error);
    await settle();
    const id = await newestConversation(w);
    w.clock.advance(LEASE_MS + 1);
    const second = await resumeConversation(w.deps, ALICE, id, {});

    // Act
    gate.resolve(says('Late answer from the first request.'));
    const late = await first;

    // Assess
    expect(second).toMatchObject({ status: 'completed', reply: 'Answer from the second request.' });
    expect(late).toMatchObject({ code: 'conversation_busy' });
    const view = await getConversation(w.deps, ALICE, id);
    expect(view.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(view.messages[1]?.content).toEqual([{ type: 'text', text: 'Answer from the second request.' }]);
    expect(view.status).toBe('completed');
    expect(w.conversations.leaseOf(ALICE, id)).toBeUndefined();
  });

  it('a resume before the lease expires is refused, and leaves the crashed state as it was', async () => {
    // Prepare
    const w = world();
    w.model.queue(callsTools([['toolu_1', 'asana_task_create', { name: 'X' }]]));
    w.faults.arm('after_assistant_saved');
    await startConversation(w.deps, ALICE, { message: 'Create X' }).catch(() => undefined);
    w.faults.recover();
    const id = await newestConversation(w);
    w.clock.advance(LEASE_MS - 1);

    // Act
    const busy = await domainError(() => resumeConversation(w.deps, ALICE, id, {}));
    const message = await domainError(() => postMessage(w.deps, ALICE, id, { message: 'hello?' }));

    // Assess
    expect(busy.code).toBe('conversation_busy');
    expect(message.code).toBe('conversation_busy');
    expect(w.accounts.callsOf('execute')).toHaveLength(0);
    expect((await getConversation(w.deps, ALICE, id)).messages).toHaveLength(2);
  });
});

describe('the results of one batch', () => {
  const created = (name: string) => markUntrusted('asana_task_create', JSON.stringify({ gid: '77', name }));

  it('writes a result on its own once it has waited for a slow call of its batch: a crash during the slow call keeps it', async () => {
    // Prepare: "Fast" answers at once, "Slow" runs until the process dies
    const w = world();
    const slow = deferred();
    w.accounts.onTool('asana_task_create', async ({ input }) => {
      if (input.name === 'Slow') {
        await slow.promise;
        throw w.faults.die();
      }
      return { kind: 'succeeded', data: { gid: '77', name: input.name }, executionId: 'exec-77' };
    });
    w.model.queue(
      callsTools([
        ['toolu_1', 'asana_task_create', { name: 'Fast' }],
        ['toolu_2', 'asana_task_create', { name: 'Slow' }],
      ]),
      says('One created, one unsure.'),
    );

    // Act
    const run = startConversation(w.deps, ALICE, { message: 'Create two' }).catch((error: unknown) => error);
    await settle();
    const id = await newestConversation(w);
    const fast = () => w.conversations.recordsOf(ALICE, id).find((record) => record.toolUseId === 'toolu_1');
    const beforeTheWait = fast();
    w.clock.advance(RESULT_WAIT_MS);
    await settle();
    const afterTheWait = fast();
    slow.resolve();
    const crash = await run;
    const { outcome } = await resumeAfterCrash(w, id);

    // Assess
    expect(beforeTheWait?.outcome).toBeUndefined();
    expect(afterTheWait).toMatchObject({ outcome: 'succeeded', result: created('Fast'), executionId: 'exec-77' });
    expect(crash).toBeInstanceOf(SimulatedCrash);
    expect(outcome).toMatchObject({ status: 'completed', reply: 'One created, one unsure.' });
    expect(outcome.toolCalls.map((call) => [call.toolUseId, call.outcome])).toEqual([['toolu_2', 'unknown']]);
    const results = w.model.requests[1]!.messages.at(-1)!.content.filter(isToolResult);
    expect(results.map((block) => [block.tool_use_id, block.content, block.is_error === true])).toEqual([
      ['toolu_1', created('Fast'), false],
      ['toolu_2', expect.stringContaining('interrupted'), true],
    ]);
    expect(w.accounts.started).toHaveLength(2);
    // The message holds both results now: no record keeps a copy.
    expect(w.conversations.recordsOf(ALICE, id).map((record) => [record.toolUseId, record.outcome, record.result])).toEqual([
      ['toolu_1', 'succeeded', undefined],
      ['toolu_2', 'unknown', undefined],
    ]);
  });

  it('keeps every write of a batch of 120 calls within the 100 items one transaction holds', async () => {
    // Prepare: a store that notes how many items each write carries (header and message included)
    const w = world();
    const items: number[] = [];
    const store = new Proxy(w.conversations, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'append' && property !== 'update') return value;
        return (...args: unknown[]) => {
          const options = (args.at(-1) ?? {}) as WriteOptions;
          const riders = (options.finished?.length ?? 0) + (options.settled?.length ?? 0) + (options.proposed?.length ?? 0);
          items.push(riders + (property === 'append' ? 2 : 1) + (options.charge ? 1 : 0));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const calls = Array.from({ length: 120 }, (_, i) => [`toolu_${i}`, 'asana_task_create', { name: `Task ${i}` }] as const);
    w.model.queue(callsTools(calls), says('All made.'));

    // Act
    const outcome = await startConversation({ ...w.deps, store }, ALICE, { message: 'Make 120 tasks' });

    // Assess
    expect(outcome).toMatchObject({ status: 'completed', reply: 'All made.' });
    expect(outcome.toolCalls.filter((call) => call.outcome === 'succeeded')).toHaveLength(120);
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(120);
    expect(Math.max(...items)).toBeLessThanOrEqual(100);
    const records = w.conversations.recordsOf(ALICE, outcome.conversationId);
    expect(records.filter((record) => record.outcome === 'succeeded')).toHaveLength(120);
    const view = await getConversation(w.deps, ALICE, outcome.conversationId);
    expect(view.messages[2]?.content.filter(isToolResult)).toHaveLength(120);
  });

  it('costs one read and five writes for a turn of three tool calls: each result written once, the lease given back with the answer', async () => {
    // Prepare: a conversation with one exchange, and a store that notes each call made to it
    const w = world();
    w.model.queue(says('Hello.'));
    const first = await startConversation(w.deps, ALICE, { message: 'Hi' });
    const calls: string[] = [];
    const store = new Proxy(w.conversations, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(property));
          return value.apply(target, args);
        };
      },
    });
    w.model.queue(
      callsTools([
        ['toolu_1', 'asana_task_create', { name: 'One' }],
        ['toolu_2', 'asana_task_create', { name: 'Two' }],
        ['toolu_3', 'asana_task_create', { name: 'Three' }],
      ]),
      says('Three created.'),
    );

    // Act
    const outcome = await postMessage({ ...w.deps, store }, ALICE, first.conversationId, { message: 'Create three' });

    // Assess
    expect(outcome).toMatchObject({ status: 'completed', reply: 'Three created.' });
    // The history; the lease with the message; Claude's calls; their starts; their results; the answer.
    expect(calls).toEqual(['window', 'acquireWithMessage', 'append', 'startTools', 'append', 'append']);
    const records = w.conversations.recordsOf(ALICE, first.conversationId);
    expect(records.map((record) => [record.toolUseId, record.outcome, record.result, record.executionId])).toEqual([
      ['toolu_1', 'succeeded', undefined, 'exec-77'],
      ['toolu_2', 'succeeded', undefined, 'exec-77'],
      ['toolu_3', 'succeeded', undefined, 'exec-77'],
    ]);
    const view = await getConversation(w.deps, ALICE, first.conversationId);
    expect(view.messages[4]?.content.filter(isToolResult).map((block) => block.content)).toEqual([
      created('One'),
      created('Two'),
      created('Three'),
    ]);
    expect(view.toolCalls.map((call) => call.input)).toEqual([{ name: 'One' }, { name: 'Two' }, { name: 'Three' }]);
    expect(w.conversations.leaseOf(ALICE, first.conversationId)).toBeUndefined();
  });
});
