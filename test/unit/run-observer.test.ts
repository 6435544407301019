import { describe, expect, it } from 'vitest';
import { type ChatSettings, decideApproval, resumeConversation, startConversation } from '../../functions/core/chat';
import { callsTools, chatWorld, says, usage } from '../fakes';

const ALICE = 'sub-alice';
const CREATE = { name: 'Ship it', projects: ['1'] };

/** Alice's account is ACTIVE; writes wait for her approval. */
function world(settings: Partial<ChatSettings> = {}) {
  const w = chatWorld({ settings: { toolPolicy: { asana_task_create: 'confirm' }, ...settings } });
  w.accounts.setStatus(ALICE, 'ACTIVE');
  w.accounts.onTool('asana_tasks_list', () => ({ kind: 'succeeded', data: { data: [] }, executionId: 'exec-list' }));
  w.accounts.onTool('asana_task_create', () => ({ kind: 'failed', message: 'Forbidden', executionId: 'exec-create' }));
  return w;
}

const start = (w: ReturnType<typeof world>) => startConversation(w.deps, ALICE, { message: 'List my open tasks' });

describe('what a run reports to its observer', () => {
  it('each model call with its latency and tokens, each tool call with its outcome, then the status it ends in', async () => {
    // Prepare
    const w = world();
    w.model.queue(
      () => {
        w.clock.advance(1_200);
        return callsTools([['toolu_1', 'asana_tasks_list', {}]], { usage: usage(100, 20, 30, 40) });
      },
      () => {
        w.clock.advance(300);
        return says('Nothing open.', 'end_turn', usage(150, 8));
      },
    );

    // Act
    const outcome = await start(w);

    // Assess
    expect(outcome.status).toBe('completed');
    expect(w.observer.events).toEqual([
      { kind: 'model', latencyMs: 1_200, usage: usage(100, 20, 30, 40) },
      { kind: 'tool', name: 'asana_tasks_list', outcome: 'succeeded', durationMs: expect.any(Number) },
      { kind: 'model', latencyMs: 300, usage: usage(150, 8) },
      { kind: 'run', status: 'completed' },
    ]);
  });

  it('a run paused by its time budget as stopped by its deadline', async () => {
    // Prepare
    const w = world({ timeBudgetMs: 10_000 });
    let n = 0;
    w.model.fallback = () => {
      w.clock.advance(6_000);
      return callsTools([[`toolu_${++n}`, 'asana_tasks_list', {}]]);
    };

    // Act
    const outcome = await start(w);

    // Assess
    expect(outcome.status).toBe('in_progress');
    expect(w.observer.of('model').length).toBeGreaterThan(0);
    expect(w.observer.of('run')).toEqual([{ kind: 'run', status: 'in_progress', stoppedBy: 'deadline' }]);
  });

  it('a run paused by its model-call budget as stopped by that budget, not by its deadline', async () => {
    // Prepare
    const w = world({ modelCallBudget: 2 });
    let n = 0;
    w.model.fallback = () => callsTools([[`toolu_${++n}`, 'asana_tasks_list', {}]]);

    // Act
    await start(w);

    // Assess
    expect(w.observer.of('run')).toEqual([{ kind: 'run', status: 'in_progress', stoppedBy: 'model_call_budget' }]);
  });

  it('a pause for approval, then a denied call without a duration, and a refused tool as failed', async () => {
    // Prepare
    const w = world();
    w.model.queue(callsTools([['toolu_create', 'asana_task_create', CREATE]]));
    const paused = await start(w);
    w.model.queue(callsTools([['toolu_again', 'asana_task_create', CREATE]]), says('Could not create it.'));

    // Act
    await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_create', decision: 'deny' });
    const afterDeny = w.observer.events.length;
    await decideApproval(w.deps, ALICE, paused.conversationId, { toolUseId: 'toolu_again', decision: 'approve' });

    // Assess
    const runs = w.observer.of('run').map((run) => run.status);
    expect(runs).toEqual(['awaiting_approval', 'awaiting_approval', 'completed']);
    expect(w.observer.of('tool')).toEqual([
      { kind: 'tool', name: 'asana_task_create', outcome: 'denied', durationMs: undefined },
      { kind: 'tool', name: 'asana_task_create', outcome: 'failed', durationMs: expect.any(Number) },
    ]);
    expect(w.observer.events[afterDeny - 1]).toEqual({ kind: 'run', status: 'awaiting_approval' });
  });

  it('a run that needs the user to connect, and a resume of a completed run as completed again', async () => {
    // Prepare
    const w = world();
    w.accounts.setStatus(ALICE, 'EXPIRED');

    // Act
    const paused = await start(w);
    w.accounts.setStatus(ALICE, 'ACTIVE');
    w.model.queue(says('Done.'));
    await resumeConversation(w.deps, ALICE, paused.conversationId, {});
    await resumeConversation(w.deps, ALICE, paused.conversationId, {});

    // Assess
    expect(w.observer.of('run').map((run) => run.status)).toEqual(['needs_authorization', 'completed', 'completed']);
    expect(w.observer.of('model')).toHaveLength(1);
  });
});
