import { describe, expect, it } from 'vitest';
import { postMessage, startConversation } from '../../functions/core/chat';
import { estimateTokens } from '../../functions/core/history';
import { callsTools, chatWorld, says } from '../fakes';

const ALICE = 'sub-alice';

describe('no wedged conversation', () => {
  it('shrinks an exchange of eight large tool results to the history budget, oldest first, and a later message still works', async () => {
    // Prepare: eight results of 16 KiB each (about 4,000 tokens apiece) against a 12,000-token budget.
    const w = chatWorld({ settings: { historyTokenBudget: 12_000, toolResultMaxBytes: 16_384 } });
    w.accounts.setStatus(ALICE, 'ACTIVE');
    w.accounts.onTool('asana_task_get', ({ input }) => ({
      kind: 'succeeded',
      data: `${String(input.task_gid)}:${'x'.repeat(16_000)}`,
      executionId: `exec-${String(input.task_gid)}`,
    }));
    const uses = Array.from({ length: 8 }, (_, i) => [`toolu_${i}`, 'asana_task_get', { task_gid: `g${i}` }] as const);
    w.model.queue(callsTools(uses), says('Eight tasks read.'), says('Still here.'));

    // Act
    const first = await startConversation(w.deps, ALICE, { message: 'Read eight tasks' });
    const later = await postMessage(w.deps, ALICE, first.conversationId, { message: 'And now?' });

    // Assess
    expect(first).toMatchObject({ status: 'completed', reply: 'Eight tasks read.' });
    expect(later).toMatchObject({ status: 'completed', reply: 'Still here.' });
    const sent = w.model.requests[1]!.messages;
    const tokens = sent.reduce((sum, message) => sum + estimateTokens(message.content), 0);
    expect(tokens).toBeLessThanOrEqual(12_000);
    const results = sent.at(-1)!.content.map((block) => String((block as { content?: unknown }).content));
    expect(results).toHaveLength(8);
    // The oldest results were cut (with a visible marker), the newest kept whole.
    expect(results[0]).toContain('[shortened to fit the conversation');
    expect(results.at(-1)).not.toContain('[shortened');
    expect(results.at(-1)).toContain('x'.repeat(15_000));
  });

  it('keeps offering the tools the history used when none is left to the user', async () => {
    // Prepare: a conversation that used a tool; then the deployment denies every tool.
    const w = chatWorld();
    w.accounts.setStatus(ALICE, 'ACTIVE');
    w.model.queue(callsTools([['toolu_1', 'asana_tasks_list', {}]]), says('One list read.'), says('No tools now.'));
    const first = await startConversation(w.deps, ALICE, { message: 'List' });
    const denied = { ...w.deps, settings: { ...w.deps.settings, toolAllowlist: [] } };

    // Act
    const later = await postMessage(denied, ALICE, first.conversationId, { message: 'Again?' });

    // Assess
    expect(later).toMatchObject({ status: 'completed', reply: 'No tools now.' });
    expect(w.model.requests.at(-1)!.tools.map((tool) => tool.name)).toEqual(['asana_tasks_list']);
  });
});
