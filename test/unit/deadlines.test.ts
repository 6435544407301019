import { describe, expect, it } from 'vitest';
import { getConversation, resumeConversation, startConversation } from '../../functions/core/chat';
import { UpstreamError } from '../../functions/core/errors';
import type { ModelResponse } from '../../functions/core/domain';
import { callsTools, chatWorld, domainError, hangsAfter, type ModelTurn, says, settle } from '../fakes';

const ALICE = 'sub-alice';

function world(options: Parameters<typeof chatWorld>[0] = {}) {
  const w = chatWorld({ ...options, settings: { toolPolicy: { write: 'allow' }, ...options.settings } });
  w.accounts.setStatus(ALICE, 'ACTIVE');
  return w;
}

/** A turn that takes `ms` of the clock, then answers. */
const slow =
  (w: ReturnType<typeof world>, ms: number, response: ModelResponse): ModelTurn =>
  () => {
    w.clock.advance(ms);
    return response;
  };

/** Runs `act` while moving the clock by `ms` once the run is waiting on its call. */
async function advancingBy<T>(w: ReturnType<typeof world>, ms: number, act: () => Promise<T>): Promise<T> {
  const running = act();
  await settle();
  w.clock.advance(ms);
  return running;
}

describe('the request deadline', () => {
  it('aborts a model call that would outlive the deadline, stores nothing of it, and answers in_progress', async () => {
    // Prepare: the first call asks for a tool; the second would never end by itself.
    const w = world({ settings: { timeBudgetMs: 25_000, modelTimeoutMs: 20_000 } });
    w.model.queue(slow(w, 10_000, callsTools([['toolu_1', 'asana_tasks_list', {}]])), hangsAfter('Let me think'));

    // Act: at t=10 s the second call gets min(20 s, 25 − 10 − 1 s) = 14 s.
    const outcome = await advancingBy(w, 14_000, () => startConversation(w.deps, ALICE, { message: 'List my tasks' }));

    // Assess
    expect(outcome.status).toBe('in_progress');
    expect(outcome.toolCalls.map((call) => [call.toolUseId, call.outcome])).toEqual([['toolu_1', 'succeeded']]);
    const view = await getConversation(w.deps, ALICE, outcome.conversationId);
    expect(view.status).toBe('in_progress');
    expect(view.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
    expect(JSON.stringify(view.messages)).not.toContain('Let me think');
    expect(w.conversations.leaseOf(ALICE, outcome.conversationId)).toBeUndefined();
  });

  it('resumes a run stopped at the deadline without running any finished tool again', async () => {
    // Prepare: a run stopped by its deadline after one tool call.
    const w = world();
    w.model.queue(slow(w, 10_000, callsTools([['toolu_1', 'asana_task_create', { name: 'X' }]])), hangsAfter());
    const stopped = await advancingBy(w, 14_000, () => startConversation(w.deps, ALICE, { message: 'Create X' }));
    w.model.queue(callsTools([['toolu_2', 'asana_tasks_list', {}]]), says('Created X; you have no other tasks.'));

    // Act
    const resumed = await resumeConversation(w.deps, ALICE, stopped.conversationId, {});

    // Assess
    expect(stopped.status).toBe('in_progress');
    expect(resumed).toMatchObject({ status: 'completed', reply: 'Created X; you have no other tasks.' });
    expect(resumed.toolCalls.map((call) => call.toolUseId)).toEqual(['toolu_2']);
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(1);
    expect(w.accounts.executionsOf('asana_tasks_list')).toHaveLength(1);
  });

  it('records a tool call still running at the deadline as unknown, and resume never runs it again', async () => {
    // Prepare: the tool only ends when its signal aborts (Asana may have acted meanwhile).
    const w = world();
    w.accounts.onTool(
      'asana_task_create',
      ({ signal }) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(new UpstreamError('timeout', 'scalekit', 'aborted')), { once: true });
        }),
    );
    w.model.queue(callsTools([['toolu_1', 'asana_task_create', { name: 'X' }]]));

    // Act: the tool gets the whole budget but one second.
    const stopped = await advancingBy(w, 24_000, () => startConversation(w.deps, ALICE, { message: 'Create X' }));
    w.model.queue(says('I could not tell whether X was created.'));
    const resumed = await resumeConversation(w.deps, ALICE, stopped.conversationId, {});

    // Assess
    expect(stopped.status).toBe('in_progress');
    expect(stopped.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_1', outcome: 'unknown' })]);
    expect(resumed).toMatchObject({ status: 'completed', toolCalls: [] });
    expect(w.accounts.callsOf('execute')).toHaveLength(1);
    const view = await getConversation(w.deps, ALICE, stopped.conversationId);
    expect(view.toolCalls).toEqual([expect.objectContaining({ toolUseId: 'toolu_1', outcome: 'unknown' })]);
  });

  it('starts no tool in the last second before the deadline: the next request runs it', async () => {
    // Prepare: Claude answers with a tool call just before the deadline.
    const w = world({ settings: { timeBudgetMs: 10_000 } });
    w.model.queue(slow(w, 9_500, callsTools([['toolu_1', 'asana_task_create', { name: 'X' }]])), says('Created X.'));

    // Act
    const stopped = await startConversation(w.deps, ALICE, { message: 'Create X' });
    const executedBefore = w.accounts.callsOf('execute').length;
    const resumed = await resumeConversation(w.deps, ALICE, stopped.conversationId, {});

    // Assess
    expect(stopped).toMatchObject({ status: 'in_progress', toolCalls: [] });
    expect(executedBefore).toBe(0);
    expect(resumed).toMatchObject({ status: 'completed', reply: 'Created X.' });
    expect(w.accounts.executionsOf('asana_task_create')).toHaveLength(1);
  });

  it('retries a failed model call only while time remains', async () => {
    // Prepare: every call fails as overloaded; the first one took most of the budget.
    const w = world({ settings: { timeBudgetMs: 10_000, modelMaxRetries: 3 } });
    const overloaded = () => {
      throw new UpstreamError('unavailable', 'anthropic', 'overloaded');
    };
    w.model.queue(() => {
      w.clock.advance(8_000);
      return overloaded();
    });
    w.model.fallback = overloaded;

    // Act
    const error = await domainError(() => startConversation(w.deps, ALICE, { message: 'Hello' }));

    // Assess: one retry fits (8.5 s < 9 s); after it no time is left for a backoff.
    expect(error.code).toBe('upstream_unavailable');
    expect(w.model.requests).toHaveLength(2);
  });

  it('retries a model call that timed out on its own timeout, within the deadline', async () => {
    // Prepare: a 5 s model timeout, far inside the 25 s budget.
    const w = world({ settings: { modelTimeoutMs: 5_000 } });
    w.model.queue(hangsAfter('I will'), says('Hello!'));

    // Act
    const outcome = await advancingBy(w, 5_000, () => startConversation(w.deps, ALICE, { message: 'Hello' }));

    // Assess
    expect(outcome).toMatchObject({ status: 'completed', reply: 'Hello!' });
    expect(w.model.requests).toHaveLength(2);
  });

  it('keeps the deadline inside the time the function has left', async () => {
    // Prepare: the function has 5 s left, far less than the 25 s budget.
    const w = world();
    w.model.queue(hangsAfter());

    // Act: 5 s − 2 s for the answer − 1 s margin = 2 s for the call.
    const outcome = await advancingBy(w, 2_000, () =>
      startConversation(w.deps, ALICE, { message: 'Hello' }, { time: { budgetMs: 25_000, remainingMs: 5_000 } }),
    );

    // Assess
    expect(outcome.status).toBe('in_progress');
  });
});

describe('the lease during a long run', () => {
  it('is renewed as the run goes, so a run longer than the lease keeps its conversation', async () => {
    // Prepare: a 60 s lease, a 300 s streaming-size budget, five calls of 25 s each.
    const w = world({ settings: { leaseMs: 60_000, timeBudgetMs: 300_000 } });
    const leaseLeft: number[] = [];
    let n = 0;
    w.model.fallback = async () => {
      const [header] = (await w.conversations.list(ALICE, 1, undefined)).items;
      leaseLeft.push((w.conversations.leaseOf(ALICE, header!.id)?.expiresAt ?? 0) - w.clock.now());
      w.clock.advance(25_000);
      n++;
      return n < 5 ? callsTools([[`toolu_${n}`, 'asana_tasks_list', {}]]) : says('Done after five calls.');
    };
    const startedAt = w.clock.now();

    // Act
    const outcome = await startConversation(w.deps, ALICE, { message: 'A long question' }, { time: { budgetMs: 300_000 } });

    // Assess: the run outlived its first lease (5 × 25 s > 60 s), and the lease never lapsed on the way.
    expect(outcome).toMatchObject({ status: 'completed', reply: 'Done after five calls.' });
    expect(w.clock.now() - startedAt).toBeGreaterThan(60_000);
    expect(leaseLeft).toHaveLength(5);
    expect(leaseLeft.every((left) => left > 25_000)).toBe(true);
  });
});
