import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoConversationStore } from '../../functions/adapters/conversation-store';
import { createDocumentClient } from '../../functions/adapters/dynamodb';
import { newConversationId } from '../../functions/chat/deps';
import { estimateTokens } from '../../functions/core/history';
import type { StoredMessage } from '../../functions/core/domain';
import type { CrashPoint } from '../../functions/core/faults';
import type { LocalService } from '../../infra/local/service';
import { api } from '../support/auth';
import { chatGateway, crashAt } from '../support/chat-gateway';
import { connected } from '../support/connect';
import { cursor, executions, marker, script, textTurn, toolTurn } from '../support/standins';

const stack = inject('stack');
const subs = inject('subs');
const world = inject('world');
const website = world.projects.find((project) => project.public)!;
const LEASE_MS = 800;
/** These cases are about crashes, not approvals: the deployment lets writes run unasked. */
const WRITES_ALLOWED = { write: 'allow' } as const;
const USER = 'tao';
let token: string;
let clean: LocalService;
const gateways: LocalService[] = [];

beforeAll(async () => {
  token = await connected(USER);
  clean = await chatGateway({ settings: { leaseMs: LEASE_MS, toolPolicy: WRITES_ALLOWED } });
  gateways.push(clean);
});
afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
});

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const on = (gateway: LocalService) => (method: string, path: string, body?: unknown) =>
  api(method, path, { token, body, apiUrl: gateway.url });

describe.each<[CrashPoint, number, string]>([
  ['after_assistant_saved', 1, 'succeeded'],
  ['after_tool_started', 0, 'unknown'],
  ['after_tools_finished', 1, 'succeeded'],
  ['before_lease_released', 1, 'succeeded'],
])('a crash %s', (point, expectedExecutions, expectedOutcome) => {
  it('is resumed by a fresh handler without running any tool twice', async () => {
    // Prepare: a model that creates one task, then answers.
    const tag = marker(point);
    const taskName = `Crash ${randomUUID().slice(0, 6)}`;
    await script(tag, [
      toolTurn({ name: 'asana_task_create', input: { name: taskName, projects: website.gid, workspace_gid: world.workspace.gid } }),
      textTurn('Created it.'),
      // A crash before the run's last write loses the answer (never the tool's result): resume asks again.
      textTurn('Created it.'),
    ]);
    const faulty = await chatGateway({ settings: { leaseMs: LEASE_MS, toolPolicy: WRITES_ALLOWED }, faults: crashAt(point) });
    gateways.push(faulty);
    const since = await cursor(executions);
    // Act: the first request crashes; after its lease expires a fresh instance resumes.
    const crashed = await on(faulty)('POST', '/conversations', { message: `${tag} make a task` });
    expect(crashed.status).toBeGreaterThanOrEqual(500);
    const list = await on(clean)('GET', '/conversations?limit=1');
    const id = list.body.conversations[0].conversationId as string;
    await sleep(LEASE_MS + 100);
    const resumed = await on(clean)('POST', `/conversations/${id}/resume`, {});
    // Assess
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('completed');
    expect(resumed.body.reply).toBe('Created it.');
    const created = (await executions(since)).filter(
      (execution) => execution.identifier === subs[USER] && execution.toolName === 'asana_task_create',
    );
    expect(created).toHaveLength(expectedExecutions);
    const stored = await on(clean)('GET', `/conversations/${id}`);
    expect(stored.body.toolCalls).toEqual([expect.objectContaining({ name: 'asana_task_create', outcome: expectedOutcome })]);
    const roles = stored.body.messages.map((message: { role: string }) => message.role);
    expect(roles).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(stored.body.messages[2].content[0].type).toBe('tool_result');
  });
});

describe('budgets and stop reasons', () => {
  it('pauses a model that never stops asking for tools at the budget; resume continues it', async () => {
    const tag = marker('budget');
    await script(tag, [...Array.from({ length: 5 }, () => toolTurn({ name: 'asana_me_get', input: {} })), textTurn('Finally done.')]);
    const budgeted = await chatGateway({ settings: { modelCallBudget: 2, leaseMs: LEASE_MS } });
    gateways.push(budgeted);
    const call = on(budgeted);
    const first = await call('POST', '/conversations', { message: `${tag} keep going` });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('in_progress');
    expect(first.body.reply).toBeNull();
    const id = first.body.conversationId;
    const blocked = await call('POST', `/conversations/${id}/messages`, { message: 'and then?' });
    expect(blocked.status).toBe(409);
    expect(blocked.body.error.code).toBe('resume_required');
    const second = await call('POST', `/conversations/${id}/resume`, {});
    expect(second.body.status).toBe('in_progress');
    const third = await call('POST', `/conversations/${id}/resume`, {});
    expect(third.body).toMatchObject({ status: 'completed', reply: 'Finally done.' });
    const stored = await call('GET', `/conversations/${id}`);
    expect(stored.body.toolCalls).toHaveLength(5);
    // Each resume left off exactly where the last stopped: tool_use and tool_result alternate.
    expect(stored.body.messages).toHaveLength(12);
  });

  it('stops at the time budget as in_progress', async () => {
    const tag = marker('time');
    await script(tag, [toolTurn({ name: 'asana_me_get', input: {} }), textTurn('Done.')]);
    const hurried = await chatGateway({ settings: { timeBudgetMs: 1, leaseMs: LEASE_MS } });
    gateways.push(hurried);
    const first = await on(hurried)('POST', '/conversations', { message: `${tag} quick` });
    expect(first.body.status).toBe('in_progress');
    const done = await on(clean)('POST', `/conversations/${first.body.conversationId}/resume`, {});
    expect(done.body.status).toBe('completed');
  });

  it.each(['max_tokens', 'model_context_window_exceeded'])('ends a %s answer as completed and truncated', async (stop) => {
    const tag = marker(stop);
    await script(tag, [textTurn('Partial answ', stop)]);
    const run = await on(clean)('POST', '/conversations', { message: `${tag} long answer` });
    expect(run.body).toMatchObject({ status: 'completed', reply: 'Partial answ', truncated: true });
  });

  it('runs none of the tool calls of a cut-off response and ends it as truncated', async () => {
    const tag = marker('cut-tools');
    await script(tag, [{ ...toolTurn({ name: 'asana_task_create', input: { name: 'Half a na' } }), stop_reason: 'max_tokens' }]);
    const since = await cursor(executions);
    const run = await on(clean)('POST', '/conversations', { message: `${tag} create` });
    expect(run.body).toMatchObject({ status: 'completed', truncated: true, toolCalls: [expect.objectContaining({ outcome: 'failed' })] });
    expect((await executions(since)).filter((execution) => execution.identifier === subs[USER])).toEqual([]);
    // The history stays acceptable to Claude: the next message completes.
    const next = await on(clean)('POST', `/conversations/${run.body.conversationId}/messages`, { message: 'List my open tasks' });
    expect(next.body.status).toBe('completed');
  });

  it('stores an empty answer as received and the conversation goes on', async () => {
    const tag = marker('empty');
    await script(tag, [{ role: 'assistant', type: 'message', content: [], stop_reason: 'end_turn' }]);
    const run = await on(clean)('POST', '/conversations', { message: `${tag} say nothing` });
    expect(run.body).toMatchObject({ status: 'completed', reply: '' });
    const stored = await on(clean)('GET', `/conversations/${run.body.conversationId}`);
    expect(stored.body.messages.at(-1)).toEqual({ role: 'assistant', content: [] });
    const next = await on(clean)('POST', `/conversations/${run.body.conversationId}/messages`, { message: 'List my open tasks' });
    expect(next.status).toBe(200);
    expect(next.body.status).toBe('completed');
  });

  it('continues a pause_turn and answers a resume of a completed run without calling the model', async () => {
    const tag = marker('pause');
    await script(tag, [textTurn('Working on it', 'pause_turn'), textTurn('All done.')]);
    const run = await on(clean)('POST', '/conversations', { message: `${tag} pause please` });
    expect(run.body).toMatchObject({ status: 'completed', reply: 'All done.' });
    expect(run.body.truncated).toBeUndefined();
    const before = await on(clean)('GET', `/conversations/${run.body.conversationId}`);
    const again = await on(clean)('POST', `/conversations/${run.body.conversationId}/resume`, {});
    expect(again.body).toMatchObject({ status: 'completed', reply: 'All done.', toolCalls: [] });
    const after = await on(clean)('GET', `/conversations/${run.body.conversationId}`);
    expect(after.body.usage).toEqual(before.body.usage);
  });

  it('reads the prompt cache from the second model call of a run on', async () => {
    const tag = marker('cache');
    await script(tag, [toolTurn({ name: 'asana_me_get', input: {} }), textTurn('Cached.')]);
    const run = await on(clean)('POST', '/conversations', { message: `${tag} twice` });
    expect(run.body.status).toBe('completed');
    const stored = await on(clean)('GET', `/conversations/${run.body.conversationId}`);
    expect(stored.body.usage.cacheReadInputTokens).toBeGreaterThan(0);
    expect(stored.body.usage.cacheCreationInputTokens).toBeGreaterThan(0);
  });
});

describe('long conversations', () => {
  it('completes a new turn of a 1,000-message conversation and keeps every stored message', async () => {
    // Prepare: 1,000 messages written straight through the store (500 exchanges).
    const store = new DynamoConversationStore(createDocumentClient({ region: 'us-east-1', endpoint: stack.dynamodbUrl }), stack.tableName);
    const sub = subs[USER]!;
    const id = newConversationId();
    const now = new Date().toISOString();
    const filler = 'x'.repeat(400);
    const message = (seq: number): StoredMessage => {
      const content =
        seq % 2 === 0
          ? [{ type: 'text' as const, text: `question ${seq} ${filler}` }]
          : [{ type: 'text' as const, text: `answer ${seq} ${filler}` }];
      return {
        seq,
        role: seq % 2 === 0 ? 'user' : 'assistant',
        content,
        stopReason: seq % 2 ? 'end_turn' : undefined,
        startsExchange: seq % 2 === 0,
        tokens: estimateTokens(content),
      };
    };
    const lease = { id: 'builder', now: Date.now(), expiresAt: Date.now() + 60_000 };
    await store.create(
      sub,
      {
        id,
        status: 'completed',
        title: 'long',
        createdAt: now,
        updatedAt: now,
        messageCount: 1,
        usage: { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
        pendingApprovals: [],
      },
      message(0),
      lease,
    );
    for (let seq = 1; seq < 1000; seq++) await store.append(sub, id, lease.id, message(seq), { updatedAt: now, messageCount: seq + 1 });
    await store.release(sub, id, lease.id);
    // Act
    const turn = await on(clean)('POST', `/conversations/${id}/messages`, { message: 'List my open tasks' });
    // Assess
    expect(turn.status).toBe(200);
    expect(turn.body.status).toBe('completed');
    const stored = await on(clean)('GET', `/conversations/${id}`);
    expect(stored.body.messages.length).toBeGreaterThan(1000);
    expect(stored.body.messages[0].content[0].text).toContain('question 0');
  });
});
