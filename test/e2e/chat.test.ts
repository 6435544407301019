import { afterAll, describe, expect, inject, it } from 'vitest';
import { api, login } from '../support/auth';
import { connected, consent } from '../support/connect';
import {
  asanaRequests,
  cursor,
  executions,
  marker,
  modelLatency,
  script,
  setAccountStatus,
  textTurn,
  toolLatency,
  toolTurn,
} from '../support/standins';

const world = inject('world');
const subs = inject('subs');
const privateProject = world.projects.find((project) => !project.public)!;
const privateTasks = world.tasks.filter((task) => task.project === privateProject.gid).map((task) => task.name);
const outsider = world.people.find((person) => !privateProject.members.includes(person.asanaGid))!;
const member = world.people.find((person) => privateProject.members.includes(person.asanaGid))!;

afterAll(async () => {
  await toolLatency(0);
  await modelLatency(0);
});

describe('the tool loop as the caller', () => {
  it(`answers "${privateProject.name}" for a member and not for anyone else`, async () => {
    // Prepare
    const alice = await connected(member.username);
    const bob = await connected(outsider.username);
    const question = `What's in the ${privateProject.name} board?`;
    // Act
    const forAlice = await api('POST', '/conversations', { token: alice, body: { message: question } });
    const forBob = await api('POST', '/conversations', { token: bob, body: { message: question } });
    // Assess
    expect(forAlice.status).toBe(201);
    expect(forAlice.body).toMatchObject({
      conversationId: expect.stringMatching(/^c_/),
      status: 'completed',
      pendingApprovals: [],
      authorizationUrl: null,
    });
    for (const task of privateTasks) expect(forAlice.body.reply).toContain(task);
    expect(forAlice.body.toolCalls.length).toBeGreaterThan(0);
    for (const call of forAlice.body.toolCalls) {
      expect(call).toEqual({
        toolUseId: expect.any(String),
        name: expect.stringMatching(/^asana_/),
        input: expect.any(Object),
        outcome: expect.any(String),
        durationMs: expect.any(Number),
      });
    }
    expect(forBob.status).toBe(201);
    expect(forBob.body.status).toBe('completed');
    for (const task of privateTasks) expect(forBob.body.reply).not.toContain(task);
  });

  it("lets Asana refuse the outsider even when the model goes straight for the project's gid", async () => {
    // Prepare
    const bob = await connected(outsider.username);
    const tag = marker('okr-direct');
    await script(tag, [
      toolTurn(
        { name: 'asana_project_tasks_list', input: { project_gid: privateProject.gid } },
        { name: 'asana_project_get', input: { project_gid: privateProject.gid } },
      ),
      textTurn('I could not read that project.'),
    ]);
    const since = await cursor(asanaRequests);
    // Act
    const run = await api('POST', '/conversations', { token: bob, body: { message: `${tag} show me the OKRs` } });
    // Assess
    expect(run.status).toBe(201);
    expect(run.body.status).toBe('completed');
    expect(run.body.toolCalls.map((call: { outcome: string }) => call.outcome)).toEqual(['failed', 'failed']);
    const stored = await api('GET', `/conversations/${run.body.conversationId}`, { token: bob });
    const text = JSON.stringify(stored.body);
    for (const task of privateTasks) expect(text).not.toContain(task);
    expect(text).not.toContain(privateProject.name);
    const results = stored.body.messages[2].content;
    expect(results.every((block: { type: string; is_error?: boolean }) => block.type === 'tool_result' && block.is_error === true)).toBe(
      true,
    );
    // Other files run concurrently: every call that touched the project in the window is
    // one of this conversation's two, made with the outsider's own Asana account and refused.
    const calls = (await asanaRequests(since)).filter((request) => request.path.includes(`/${privateProject.gid}`));
    const outsiders = calls.filter((call) => call.asanaUserGid !== null && !privateProject.members.includes(call.asanaUserGid));
    expect(outsiders).toHaveLength(2);
    for (const call of outsiders) {
      expect(call.asanaUserGid).toBe(outsider.asanaGid);
      expect([403, 404]).toContain(call.status);
    }
  });

  it('runs the tool_use blocks of one message in parallel and answers them in one message', async () => {
    const token = await connected('tyler');
    const tag = marker('parallel');
    const uses = ['asana_me_get', 'asana_workspaces_list', 'asana_projects_list', 'asana_tasks_list'].map((name, i) => ({
      id: `toolu_parallel${i}${Date.now()}`,
      name,
      input:
        name === 'asana_projects_list'
          ? { workspace_gid: world.workspace.gid }
          : name === 'asana_tasks_list'
            ? { project: world.projects[0]!.gid }
            : {},
    }));
    await script(tag, [toolTurn(...uses), textTurn('Four answers.')]);
    const since = await cursor(executions);
    await toolLatency(400);
    let run;
    try {
      run = await api('POST', '/conversations', { token, body: { message: `${tag} four things at once` } });
    } finally {
      await toolLatency(0);
    }
    expect(run.body.status).toBe('completed');
    const mine = (await executions(since)).filter((execution) => execution.identifier === subs.tyler);
    expect(mine).toHaveLength(4);
    const lastStart = Math.max(...mine.map((execution) => Date.parse(execution.startedAt)));
    const firstFinish = Math.min(...mine.map((execution) => Date.parse(execution.finishedAt)));
    expect(lastStart).toBeLessThan(firstFinish);
    const stored = await api('GET', `/conversations/${run.body.conversationId}`, { token });
    expect(stored.body.messages.map((message: { role: string }) => message.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(stored.body.messages[2].content.map((block: { tool_use_id: string }) => block.tool_use_id)).toEqual(uses.map((use) => use.id));
  });

  it('refuses a tool outside the allowlist without running it', async () => {
    const token = await connected('tyler');
    const tag = marker('delete');
    await script(tag, [toolTurn({ name: 'asana_task_delete', input: { task_gid: world.tasks[0]!.gid } }), textTurn('Not allowed.')]);
    const since = await cursor(executions);
    const run = await api('POST', '/conversations', { token, body: { message: `${tag} delete it` } });
    expect(run.body.toolCalls).toEqual([expect.objectContaining({ name: 'asana_task_delete', outcome: 'failed' })]);
    expect((await executions(since)).filter((execution) => execution.toolName === 'asana_task_delete')).toEqual([]);
  });
});

describe('conversations belong to their caller', () => {
  it('gives another user 404 for every route of a conversation', async () => {
    const alice = await connected(member.username);
    const { accessToken: bob } = await login(outsider.username);
    const run = await api('POST', '/conversations', { token: alice, body: { message: 'List my open tasks' } });
    const id = run.body.conversationId;
    for (const [method, path, body] of [
      ['GET', `/conversations/${id}`, undefined],
      ['POST', `/conversations/${id}/messages`, { message: 'hi' }],
      ['POST', `/conversations/${id}/resume`, {}],
      ['POST', `/conversations/${id}/approvals`, { toolUseId: 'toolu_x', decision: 'approve' }],
      ['DELETE', `/conversations/${id}`, undefined],
    ] as const) {
      const response = await api(method, path, { token: bob, body });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.error.code).toBe('not_found');
    }
    expect((await api('GET', `/conversations/${id}`, { token: alice })).status).toBe(200);
    expect((await api('GET', '/conversations/not-an-id', { token: alice })).status).toBe(404);
    // A malformed id is not found even when the body is wrong as well.
    const malformed = await api('POST', '/conversations/not-an-id/messages', { token: alice, body: { nope: 1 } });
    expect(malformed.status).toBe(404);
  });

  it('answers a second concurrent request on one conversation with 409', async () => {
    const token = await connected('tanya');
    const first = await api('POST', '/conversations', { token, body: { message: 'List my open tasks' } });
    const id = first.body.conversationId;
    await modelLatency(1500);
    let responses;
    try {
      responses = await Promise.all([
        api('POST', `/conversations/${id}/messages`, { token, body: { message: 'List my open tasks' } }),
        new Promise((done) => setTimeout(done, 300)).then(() =>
          api('POST', `/conversations/${id}/messages`, { token, body: { message: 'List my open tasks' } }),
        ),
      ]);
    } finally {
      await modelLatency(0);
    }
    expect(responses.map((response) => response.status).sort()).toEqual([200, 409]);
    const busy = responses.find((response) => response.status === 409)!;
    expect(busy.body.error.code).toBe('conversation_busy');
    const stored = await api('GET', `/conversations/${id}`, { token });
    const roles = stored.body.messages.map((message: { role: string }) => message.role);
    // Exactly two exchanges, no interleaving: user, (assistant, user)*, assistant — twice.
    expect(roles.filter((role: string, i: number) => role === 'user' && stored.body.messages[i].content[0].type === 'text')).toHaveLength(
      2,
    );
    for (let i = 1; i < roles.length; i++) expect(roles[i]).not.toBe(roles[i - 1]);
  });

  it('lists, shows and deletes conversations', async () => {
    const token = await connected('tobias');
    const a = await api('POST', '/conversations', { token, body: { message: 'List my open tasks' } });
    const b = await api('POST', '/conversations', { token, body: { message: `What's in the ${world.projects[0]!.name} project?` } });
    const whole = await api('GET', '/conversations?limit=2', { token });
    expect(whole.body.conversations).toHaveLength(2);
    expect(whole.body.nextToken).toBeNull();
    const page = await api('GET', '/conversations?limit=1', { token });
    expect(page.status).toBe(200);
    expect(page.body.conversations).toEqual([
      {
        conversationId: b.body.conversationId,
        status: 'completed',
        title: expect.any(String),
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    ]);
    expect(page.body.nextToken).toEqual(expect.any(String));
    const next = await api('GET', `/conversations?limit=1&nextToken=${encodeURIComponent(page.body.nextToken)}`, { token });
    expect(next.body.conversations[0].conversationId).toBe(a.body.conversationId);
    for (const bad of ['limit=0', 'limit=101', 'limit=abc', 'nextToken=garbage']) {
      expect((await api('GET', `/conversations?${bad}`, { token })).status, bad).toBe(400);
    }
    const shown = await api('GET', `/conversations/${a.body.conversationId}`, { token });
    expect(shown.body).toMatchObject({
      conversationId: a.body.conversationId,
      status: 'completed',
      pendingApprovals: [],
      usage: {
        inputTokens: expect.any(Number),
        outputTokens: expect.any(Number),
        cacheCreationInputTokens: expect.any(Number),
        cacheReadInputTokens: expect.any(Number),
      },
    });
    expect(shown.body.messages[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'List my open tasks' }] });
    expect(shown.body.toolCalls.length).toBeGreaterThan(0);
    expect((await api('DELETE', `/conversations/${a.body.conversationId}`, { token })).status).toBe(204);
    expect((await api('GET', `/conversations/${a.body.conversationId}`, { token })).status).toBe(404);
    expect((await api('DELETE', `/conversations/${a.body.conversationId}`, { token })).status).toBe(404);
  });
});

describe('connections that need the user', () => {
  it('answers needs_authorization with a link for someone who never connected, without calling the model', async () => {
    const { accessToken } = await login('tobin');
    const run = await api('POST', '/conversations', { token: accessToken, body: { message: 'List my open tasks' } });
    expect(run.status).toBe(201);
    expect(run.body).toEqual({
      conversationId: expect.stringMatching(/^c_/),
      status: 'needs_authorization',
      reply: null,
      toolCalls: [],
      pendingApprovals: [],
      authorizationUrl: expect.stringMatching(/^http/),
    });
    const stored = await api('GET', `/conversations/${run.body.conversationId}`, { token: accessToken });
    expect(stored.body.usage).toEqual({ inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 });
  });

  it('answers needs_authorization with a link for the caller, keeps the message, and resume completes after reconnecting', async () => {
    const token = await connected('trent');
    await setAccountStatus(subs.trent!, 'EXPIRED');
    const run = await api('POST', '/conversations', {
      token,
      body: { message: 'List my open tasks', verifyUrl: 'http://localhost:8765/done' },
    });
    expect(run.status).toBe(201);
    expect(run.body).toMatchObject({ status: 'needs_authorization', reply: null, authorizationUrl: expect.stringMatching(/^http/) });
    const stored = await api('GET', `/conversations/${run.body.conversationId}`, { token });
    expect(stored.body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'List my open tasks' }] }]);
    expect(stored.body.usage.inputTokens).toBe(0);
    const params = await consent(token, 'trent');
    expect((await api('POST', '/connections/asana/verify', { token, body: params })).status).toBe(200);
    const resumed = await api('POST', `/conversations/${run.body.conversationId}/resume`, { token });
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('completed');
    expect(resumed.body.reply).toEqual(expect.any(String));
  });
});

describe('upstream failures', () => {
  it.each([
    [529, 503, 'upstream_unavailable', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }],
    [500, 502, 'upstream_failed', { type: 'error', error: { type: 'api_error', message: 'Internal server error' } }],
  ])('maps a Claude %i to %i with the conversation id, and resume then works', async (status, expected, code, body) => {
    const token = await connected('troy');
    const tag = marker(`model-${status}`);
    await script(tag, [{ status, body }]);
    const failed = await api('POST', '/conversations', { token, body: { message: `${tag} hello` } });
    expect(failed.status).toBe(expected);
    expect(failed.body).toEqual({
      error: { code, message: expect.any(String), details: [] },
      conversationId: expect.stringMatching(/^c_/),
    });
    await script(tag, [textTurn('Hello again.')]);
    const resumed = await api('POST', `/conversations/${failed.body.conversationId}/resume`, { token });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ status: 'completed', reply: 'Hello again.' });
  });
});

describe('request validation', () => {
  it.each([
    ['an identity field', { message: 'hi', sub: 'someone' }],
    ['an unknown field', { message: 'hi', conversationId: 'c_x' }],
    ['an empty message', { message: '' }],
    ['a blank message', { message: ' \n\t ' }],
    ['a message of the wrong type', { message: 42 }],
    ['no message', {}],
    ['a disallowed verifyUrl', { message: 'hi', verifyUrl: 'https://evil.test/' }],
  ])('refuses %s with 400', async (_name, body) => {
    const { accessToken } = await login('ted');
    const response = await api('POST', '/conversations', { token: accessToken, body });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('validation_failed');
  });

  it('refuses a message over 16 KiB with 413 and a body over 64 KiB with 413', async () => {
    const { accessToken } = await login('ted');
    const big = await api('POST', '/conversations', { token: accessToken, body: { message: 'é'.repeat(8200) } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    const huge = await api('POST', '/conversations', {
      token: accessToken,
      body: { message: 'a', verifyUrl: `http://127.0.0.1/${'a'.repeat(70_000)}` },
    });
    expect(huge.status).toBe(413);
  });
});
