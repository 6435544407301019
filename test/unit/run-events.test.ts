import { describe, expect, it } from 'vitest';
import { getConversation, type RunEvent, startConversation } from '../../functions/core/chat';
import { UpstreamError } from '../../functions/core/errors';
import { callsTools, chatWorld, domainError, hangsAfter, says, settle, textBlock, usage } from '../fakes';

const ALICE = 'sub-alice';

function world(options: Parameters<typeof chatWorld>[0] = {}) {
  const w = chatWorld({ ...options, settings: { toolPolicy: { write: 'allow' }, ...options.settings } });
  w.accounts.setStatus(ALICE, 'ACTIVE');
  return w;
}

/** A sink that keeps every event. */
function recorder() {
  const events: RunEvent[] = [];
  return { events, sink: { emit: (event: RunEvent) => events.push(event) } };
}

/** The deltas joined after applying the resets (each drops the text since the last `tool_call` or reset). */
function joined(events: readonly RunEvent[]): string {
  let kept = '';
  let since = '';
  for (const event of events) {
    if (event.event === 'text') since += event.data.delta;
    if (event.event === 'tool_call') {
      kept += since;
      since = '';
    }
    if (event.event === 'text_reset') since = '';
  }
  return kept + since;
}

/** The stored assistant text blocks joined with a blank line, as the contract defines the streamed text. */
const storedText = (messages: readonly { role: string; content: readonly { type: string; text?: unknown }[] }[]) =>
  messages
    .filter((message) => message.role === 'assistant')
    .flatMap((message) => message.content.filter((block) => block.type === 'text').map((block) => String(block.text)))
    .join('\n\n');

describe('the events of a streamed run', () => {
  it('tells run first, each tool_call before its tool_result, and text that joins to what was stored', async () => {
    // Prepare
    const w = world();
    w.model.queue(
      callsTools([['toolu_1', 'asana_tasks_list', {}]], { text: 'Let me look.' }),
      callsTools([
        ['toolu_2', 'asana_task_get', { task_gid: '1' }],
        ['toolu_3', 'asana_task_get', { task_gid: '2' }],
      ]),
      { content: [textBlock('You have two tasks:'), textBlock('Ship it, and Test it.')], stopReason: 'end_turn', usage: usage() },
    );
    const { events, sink } = recorder();

    // Act
    const outcome = await startConversation(w.deps, ALICE, { message: 'My tasks?' }, { events: sink });

    // Assess
    const names = events.map((event) => event.event);
    expect(names[0]).toBe('run');
    expect(events[0]).toEqual({ event: 'run', data: { conversationId: outcome.conversationId } });
    for (const id of ['toolu_1', 'toolu_2', 'toolu_3']) {
      const call = events.findIndex((event) => event.event === 'tool_call' && event.data.toolUseId === id);
      const result = events.findIndex((event) => event.event === 'tool_result' && event.data.toolUseId === id);
      expect(call).toBeGreaterThan(0);
      expect(result).toBeGreaterThan(call);
    }
    expect(names).not.toContain('text_reset');
    const view = await getConversation(w.deps, ALICE, outcome.conversationId);
    expect(joined(events)).toBe(storedText(view.messages));
    expect(joined(events)).toBe('Let me look.\n\nYou have two tasks:\n\nShip it, and Test it.');
    expect(w.model.streamed).toBe(3);
  });

  it('resets the text of a model call that failed after some of it was sent, and the retry streams anew', async () => {
    // Prepare: the second call sends text, then fails; its retry answers.
    const w = world();
    w.model.queue(
      callsTools([['toolu_1', 'asana_tasks_list', {}]], { text: 'Looking.' }),
      (_request, { onText }) => {
        onText?.({ kind: 'text_start' });
        onText?.({ kind: 'text_delta', text: 'You have thr' });
        throw new UpstreamError('unavailable', 'anthropic', 'overloaded');
      },
      says('You have one task.'),
    );
    const { events, sink } = recorder();

    // Act
    const outcome = await startConversation(w.deps, ALICE, { message: 'My tasks?' }, { events: sink });

    // Assess
    expect(outcome.status).toBe('completed');
    expect(events.filter((event) => event.event === 'text_reset')).toHaveLength(1);
    const view = await getConversation(w.deps, ALICE, outcome.conversationId);
    expect(joined(events)).toBe(storedText(view.messages));
    expect(joined(events)).toBe('Looking.\n\nYou have one task.');
  });

  it('resets the text of a call cut by the deadline and stores none of it', async () => {
    // Prepare
    const w = world({ settings: { timeBudgetMs: 10_000 } });
    w.model.queue(hangsAfter('Thinking about', ' it'));
    const { events, sink } = recorder();

    // Act
    const running = startConversation(w.deps, ALICE, { message: 'Hello' }, { events: sink, time: { budgetMs: 10_000 } });
    await settle();
    w.clock.advance(9_000);
    const outcome = await running;

    // Assess
    expect(outcome.status).toBe('in_progress');
    expect(events.map((event) => event.event)).toEqual(['run', 'text', 'text', 'text_reset']);
    expect(joined(events)).toBe('');
    const view = await getConversation(w.deps, ALICE, outcome.conversationId);
    expect(view.messages.map((message) => message.role)).toEqual(['user']);
  });

  it('tells nothing before a failure that comes before the run starts', async () => {
    // Prepare: the conversation does not exist.
    const w = world();
    const { events, sink } = recorder();

    // Act
    const { resumeConversation } = await import('../../functions/core/chat');
    const error = await domainError(() => resumeConversation(w.deps, ALICE, 'c_0000000000000000000000', {}, { events: sink }));

    // Assess
    expect(error.code).toBe('not_found');
    expect(events).toEqual([]);
  });
});
