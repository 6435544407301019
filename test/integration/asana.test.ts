import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type AsanaEmulator, startAsana } from '../../infra/local/asana/server';
import { fetchAsanaTool, toAsanaRequest, type ToolRoute, toolRoutes } from '../../infra/local/asana/tool-routes';
import { loadWorld } from '../../infra/local/world';
import { asana, asanaUrl, errorMessage, gids, list, one, TEST_CLIENT } from '../support/asana';

const WORKSPACE = '1100';
const ALICE = '1201';
const BOB = '1202';
const WEBSITE = '1301';
const LEADERSHIP = '1302';
const HIGHEST_WORLD_GID = 1405n;

const toolsFile = z
  .array(
    z.looseObject({
      name: z.string(),
      kind: z.string(),
      input_schema: z.looseObject({ properties: z.record(z.string(), z.unknown()), required: z.array(z.string()) }),
    }),
  )
  .parse(JSON.parse(readFileSync(new URL('../../functions/core/asana-tools.json', import.meta.url), 'utf8')));

describe('Asana emulator REST API', () => {
  let emulator: AsanaEmulator;
  let alice: string;
  let bob: string;
  const get = (token: string, path: string, query?: Record<string, string>) => asana(emulator.url, token, 'GET', path, { query });
  const send = (token: string, method: string, path: string, data?: unknown) => asana(emulator.url, token, method, path, { data });
  const newTask = async (data: Record<string, unknown>): Promise<string> => {
    const reply = await send(alice, 'POST', '/tasks', data);
    expect(reply.status).toBe(201);
    return String(one(reply).gid);
  };

  beforeAll(async () => {
    emulator = await startAsana({ world: loadWorld(), oauthClients: [TEST_CLIENT] });
    alice = emulator.issueTokenFor(ALICE).accessToken;
    bob = emulator.issueTokenFor(BOB).accessToken;
  });

  afterAll(async () => {
    await emulator.close();
  });

  describe('users and workspaces', () => {
    it('GET /users/me answers the full user, or only opt_fields', async () => {
      // Act
      const full = await get(alice, '/users/me');
      const narrow = await get(alice, '/users/me', { opt_fields: 'name' });

      // Assess
      expect(full.status).toBe(200);
      expect(one(full)).toEqual({
        gid: ALICE,
        resource_type: 'user',
        name: 'Alice Ng',
        email: 'alice@acme.test',
        photo: null,
        workspaces: [{ gid: WORKSPACE, name: 'Acme', resource_type: 'workspace' }],
      });
      expect(one(narrow)).toEqual({ gid: ALICE, resource_type: 'user', name: 'Alice Ng' });
    });

    it('GET /workspaces answers compact workspaces', async () => {
      const reply = await get(bob, '/workspaces');

      expect(reply.status).toBe(200);
      expect(reply.body.data).toEqual([{ gid: WORKSPACE, name: 'Acme', resource_type: 'workspace' }]);
    });

    it('GET /workspaces/{gid}/users answers every Asana user compact, and 404 for another workspace', async () => {
      // Act
      const users = await get(bob, `/workspaces/${WORKSPACE}/users`);
      const unknown = await get(bob, '/workspaces/4242/users');

      // Assess
      expect(users.body.data).toEqual([
        { gid: ALICE, name: 'Alice Ng', resource_type: 'user' },
        { gid: BOB, name: 'Bob Ortiz', resource_type: 'user' },
        { gid: '1299', name: 'Acme Admin Bot', resource_type: 'user' },
      ]);
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ errors: [{ message: 'workspace: Not a recognized ID: 4242', help: expect.any(String) }] });
    });
  });

  describe('projects', () => {
    it('GET /projects lists visible projects compact; a team that does not exist is 404', async () => {
      // Act
      const projects = await get(alice, '/projects', { workspace: WORKSPACE });
      const archived = await get(alice, '/projects', { workspace: WORKSPACE, archived: 'true' });
      const team = await get(alice, '/projects', { team: '5555' });

      // Assess
      expect(projects.body.data).toEqual([
        { gid: WEBSITE, name: 'Website', resource_type: 'project' },
        { gid: LEADERSHIP, name: 'Leadership OKR', resource_type: 'project' },
      ]);
      expect(list(archived)).toEqual([]);
      expect(team.status).toBe(404);
    });

    it('pages with limit and next_page until next_page is null', async () => {
      // Act
      const first = await get(alice, '/projects', { workspace: WORKSPACE, limit: '1' });
      const nextUri = first.body.next_page?.uri ?? '';
      const second = await asanaUrl(nextUri, alice);

      // Assess
      expect(gids(first)).toEqual([WEBSITE]);
      expect(first.body.next_page).toEqual({
        offset: expect.any(String),
        path: expect.stringMatching(/^\/projects\?workspace=1100&limit=1&offset=/),
        uri: expect.stringMatching(new RegExp(`^${emulator.url}/api/1\\.0/projects\\?`)),
      });
      expect(gids(second)).toEqual([LEADERSHIP]);
      expect(second.body.next_page).toBeNull();
    });

    it.each([
      [{ limit: '0' }, 'limit'],
      [{ limit: '101' }, 'limit'],
      [{ limit: 'ten' }, 'limit'],
      [{ offset: 'not-a-token' }, 'offset'],
    ])('answers 400 for bad paging %j', async (query, field) => {
      const reply = await get(alice, '/projects', query);

      expect(reply.status).toBe(400);
      expect(errorMessage(reply)).toMatch(new RegExp(`^${field}:`));
    });

    it('finds projects by name through the workspace typeahead', async () => {
      // Act
      const found = await get(alice, `/workspaces/${WORKSPACE}/typeahead`, { resource_type: 'project', query: 'lead' });
      const all = await get(alice, `/workspaces/${WORKSPACE}/typeahead`, { resource_type: 'project', query: '' });
      const unsupported = await get(alice, `/workspaces/${WORKSPACE}/typeahead`, { resource_type: 'portfolio', query: 'x' });

      // Assess
      expect(found.body.data).toEqual([{ gid: LEADERSHIP, name: 'Leadership OKR', resource_type: 'project' }]);
      expect(gids(all)).toEqual([WEBSITE, LEADERSHIP]);
      expect(unsupported.status).toBe(400);
    });

    it('GET /projects/{gid} answers the full project; opt_fields reach into members', async () => {
      // Act
      const full = await get(bob, `/projects/${WEBSITE}`);
      const narrow = await get(bob, `/projects/${WEBSITE}`, { opt_fields: 'name,members.email' });

      // Assess
      expect(one(full)).toMatchObject({
        gid: WEBSITE,
        resource_type: 'project',
        name: 'Website',
        archived: false,
        public: true,
        members: [
          { gid: ALICE, name: 'Alice Ng', resource_type: 'user' },
          { gid: BOB, name: 'Bob Ortiz', resource_type: 'user' },
        ],
        workspace: { gid: WORKSPACE, name: 'Acme', resource_type: 'workspace' },
      });
      expect(one(narrow)).toEqual({
        gid: WEBSITE,
        resource_type: 'project',
        name: 'Website',
        members: [
          { gid: ALICE, resource_type: 'user', email: 'alice@acme.test' },
          { gid: BOB, resource_type: 'user', email: 'bob@acme.test' },
        ],
      });
    });

    it('GET /projects/{gid}/tasks lists its tasks in order; completed_since=now leaves out done ones', async () => {
      // Act
      const all = await get(bob, `/projects/${WEBSITE}/tasks`);
      const open = await get(bob, `/projects/${WEBSITE}/tasks`, { completed_since: 'now', opt_fields: 'name,completed,assignee.name' });
      const bad = await get(bob, `/projects/${WEBSITE}/tasks`, { completed_since: 'yesterday-ish' });

      // Assess
      expect(list(all).slice(0, 3)).toEqual([
        { gid: '1403', name: 'Redesign pricing page', resource_type: 'task', resource_subtype: 'default_task' },
        { gid: '1404', name: 'Fix broken footer links', resource_type: 'task', resource_subtype: 'default_task' },
        { gid: '1405', name: 'Write launch blog post', resource_type: 'task', resource_subtype: 'default_task' },
      ]);
      expect(list(open).slice(0, 2)).toEqual([
        {
          gid: '1403',
          resource_type: 'task',
          name: 'Redesign pricing page',
          completed: false,
          assignee: { gid: BOB, resource_type: 'user', name: 'Bob Ortiz' },
        },
        {
          gid: '1405',
          resource_type: 'task',
          name: 'Write launch blog post',
          completed: false,
          assignee: { gid: BOB, resource_type: 'user', name: 'Bob Ortiz' },
        },
      ]);
      expect(bad.status).toBe(400);
    });

    it('GET /projects/{gid}/sections answers one default section with a new gid', async () => {
      const reply = await get(bob, `/projects/${WEBSITE}/sections`);

      const sections = list(reply);
      expect(sections).toEqual([{ gid: expect.stringMatching(/^\d+$/), name: 'Untitled section', resource_type: 'section' }]);
      expect(BigInt(String(sections[0]?.gid))).toBeGreaterThan(HIGHEST_WORLD_GID);
    });
  });

  describe('tasks', () => {
    it('GET /tasks takes exactly one of project, section, user task list, or assignee + workspace', async () => {
      // Prepare
      const section = gids(await get(alice, `/projects/${WEBSITE}/sections`))[0] ?? '';

      // Act
      const byProject = await get(alice, '/tasks', { project: LEADERSHIP });
      const bySection = await get(alice, '/tasks', { section });
      const mine = await get(alice, '/tasks', { assignee: 'me', workspace: WORKSPACE, completed_since: 'now' });
      const none = await get(alice, '/tasks');
      const two = await get(alice, '/tasks', { project: WEBSITE, assignee: 'me', workspace: WORKSPACE });
      const noWorkspace = await get(alice, '/tasks', { assignee: 'me' });

      // Assess
      expect(gids(byProject).slice(0, 2)).toEqual(['1401', '1402']);
      expect(gids(bySection).slice(0, 3)).toEqual(['1403', '1404', '1405']);
      expect(gids(mine)).toEqual(expect.arrayContaining(['1401', '1402']));
      expect(gids(mine)).not.toContain('1404');
      expect(gids(mine)).not.toContain('1403');
      for (const reply of [none, two, noWorkspace]) {
        expect(reply.status).toBe(400);
        expect(errorMessage(reply)).toBe('Must specify exactly one of project, tag, section, user task list, or assignee + workspace');
      }
    });

    it('GET /tasks/{gid} answers the full task, and 404 for an unknown one', async () => {
      // Act
      const task = await get(bob, '/tasks/1403');
      const unknown = await get(bob, '/tasks/999999');

      // Assess
      expect(one(task)).toMatchObject({
        gid: '1403',
        resource_type: 'task',
        name: 'Redesign pricing page',
        notes: 'New tiers from marketing.',
        completed: false,
        completed_at: null,
        assignee: { gid: BOB, name: 'Bob Ortiz', resource_type: 'user' },
        projects: [{ gid: WEBSITE, name: 'Website', resource_type: 'project' }],
        memberships: [{ project: { gid: WEBSITE }, section: { name: 'Untitled section', resource_type: 'section' } }],
        parent: null,
        workspace: { gid: WORKSPACE },
      });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ errors: [{ message: 'task: Not a recognized ID: 999999', help: expect.any(String) }] });
    });

    it('searches tasks by text in name or notes, by assignee and by completion', async () => {
      const search = (query: Record<string, string>) => get(alice, `/workspaces/${WORKSPACE}/tasks/search`, query);

      // Act
      const byName = await search({ text: 'PRICING' });
      const byNotes = await search({ text: 'tiers from' });
      const byAssignee = await search({ 'assignee.any': BOB });
      const done = await search({ completed: 'true' });
      const badFlag = await search({ completed: 'maybe' });

      // Assess
      expect(byName.body.data).toEqual([
        { gid: '1403', name: 'Redesign pricing page', resource_type: 'task', resource_subtype: 'default_task' },
      ]);
      expect(gids(byNotes)).toEqual(['1403']);
      expect(gids(byAssignee).sort()).toEqual(['1403', '1405']);
      expect(gids(done)).toContain('1404');
      expect(gids(done)).not.toContain('1403');
      expect(badFlag.status).toBe(400);
    });

    it("GET /tasks/{gid}/stories answers the task's comments", async () => {
      const reply = await get(bob, '/tasks/1403/stories');

      expect(list(reply)[0]).toEqual({
        gid: expect.stringMatching(/^\d+$/),
        created_at: expect.any(String),
        created_by: { gid: BOB, name: 'Bob Ortiz', resource_type: 'user' },
        resource_type: 'story',
        text: 'Mockups in Figma.',
        type: 'comment',
        resource_subtype: 'comment_added',
      });
    });

    it("GET /users/{gid}/user_task_list and /user_task_lists/{gid}/tasks answer a user's My Tasks", async () => {
      // Act
      const listReply = await get(alice, '/users/me/user_task_list', { workspace: WORKSPACE });
      const listGid = String(one(listReply).gid);
      const tasks = await get(alice, `/user_task_lists/${listGid}/tasks`);
      const open = await get(alice, `/user_task_lists/${listGid}/tasks`, { completed_since: 'now' });
      const noWorkspace = await get(alice, '/users/me/user_task_list');
      const unknown = await get(alice, '/user_task_lists/31337/tasks');

      // Assess
      expect(one(listReply)).toEqual({
        gid: expect.stringMatching(/^\d+$/),
        resource_type: 'user_task_list',
        name: 'My Tasks',
        owner: { gid: ALICE, name: 'Alice Ng', resource_type: 'user' },
        workspace: { gid: WORKSPACE, name: 'Acme', resource_type: 'workspace' },
      });
      expect(gids(tasks)).toEqual(expect.arrayContaining(['1401', '1402', '1404']));
      expect(gids(tasks)).not.toContain('1403');
      expect(gids(open)).not.toContain('1404');
      expect(noWorkspace.status).toBe(400);
      expect(errorMessage(noWorkspace)).toBe('workspace: Missing input');
      expect(unknown.status).toBe(404);
    });
  });

  describe('writes', () => {
    it('POST /tasks creates a task in a project, assigned to "me", with a gid above the world', async () => {
      // Act
      const reply = await send(alice, 'POST', '/tasks', {
        name: 'Ship it',
        notes: 'Soon.',
        projects: [WEBSITE],
        assignee: 'me',
        due_on: '2026-12-01',
      });

      // Assess
      expect(reply.status).toBe(201);
      const task = one(reply);
      expect(task).toMatchObject({
        resource_type: 'task',
        name: 'Ship it',
        notes: 'Soon.',
        due_on: '2026-12-01',
        assignee: { gid: ALICE },
        created_by: { gid: ALICE, resource_type: 'user' },
        projects: [{ gid: WEBSITE, name: 'Website' }],
        followers: [{ gid: ALICE, name: 'Alice Ng', resource_type: 'user' }],
      });
      expect(BigInt(String(task.gid))).toBeGreaterThan(HIGHEST_WORLD_GID);
      expect(gids(await get(bob, `/projects/${WEBSITE}/tasks`)).at(-1)).toBe(task.gid);
    });

    it.each([
      ['no workspace, project or parent', { data: { name: 'floating' } }, 400, 'You should specify one of workspace, parent, projects'],
      ['an unknown project', { data: { name: 'x', projects: ['9999'] } }, 404, 'projects: Not a recognized ID: 9999'],
      ['an unknown assignee', { data: { name: 'x', workspace: WORKSPACE, assignee: '9999' } }, 404, 'assignee: Not a recognized ID: 9999'],
      ['a bad due_on', { data: { name: 'x', workspace: WORKSPACE, due_on: 'tomorrow' } }, 400, 'due_on: Not a valid date: tomorrow'],
      ['invalid JSON', { rawBody: '{"data":' }, 400, 'Could not parse request data, invalid JSON'],
      ['a body without data', { rawBody: '{"name":"x"}' }, 400, 'Request data must be a JSON object with a "data" object'],
    ])('POST /tasks answers Asana errors for %s', async (_what, options, status, message) => {
      const reply = await asana(emulator.url, alice, 'POST', '/tasks', options);

      expect(reply.status).toBe(status);
      expect(reply.body).toEqual({ errors: [{ message, help: expect.any(String) }] });
    });

    it('a task created in the workspace alone is visible to the people on it only', async () => {
      // Prepare
      const gid = await newTask({ name: 'Private note', workspace: WORKSPACE });

      // Act
      const asAlice = await get(alice, `/tasks/${gid}`);
      const asBob = await get(bob, `/tasks/${gid}`);

      // Assess
      expect(asAlice.status).toBe(200);
      expect(one(asAlice).projects).toEqual([]);
      expect(asBob.status).toBe(404);
    });

    it('PUT /tasks/{gid} updates fields and completion', async () => {
      // Prepare
      const gid = await newTask({ name: 'Draft', projects: [WEBSITE] });

      // Act
      const reply = await send(bob, 'PUT', `/tasks/${gid}`, { name: 'Final', completed: true, assignee: BOB });
      const unassigned = await send(bob, 'PUT', `/tasks/${gid}`, { assignee: null });
      const bad = await send(bob, 'PUT', `/tasks/${gid}`, { completed: 'sort of' });

      // Assess
      expect(reply.status).toBe(200);
      expect(one(reply)).toMatchObject({ gid, name: 'Final', completed: true, completed_at: expect.any(String), assignee: { gid: BOB } });
      expect(one(unassigned).assignee).toBeNull();
      expect(bad.status).toBe(400);
    });

    it('POST /tasks/{gid}/stories adds a comment by the token owner', async () => {
      // Prepare
      const gid = await newTask({ name: 'Discuss', projects: [WEBSITE] });

      // Act
      const reply = await send(bob, 'POST', `/tasks/${gid}/stories`, { text: 'Looks good.' });
      const empty = await send(bob, 'POST', `/tasks/${gid}/stories`, { text: '  ' });
      const stories = await get(alice, `/tasks/${gid}/stories`);

      // Assess
      expect(reply.status).toBe(201);
      expect(one(reply)).toMatchObject({
        resource_type: 'story',
        type: 'comment',
        text: 'Looks good.',
        created_by: { gid: BOB },
        target: { gid },
      });
      expect(empty.status).toBe(400);
      expect(list(stories).map((s) => s.text)).toEqual(['Looks good.']);
    });

    it('POST /tasks/{gid}/subtasks creates a subtask that GET /tasks/{gid}/subtasks lists', async () => {
      // Prepare
      const parent = await newTask({ name: 'Launch', projects: [WEBSITE] });

      // Act
      const reply = await send(bob, 'POST', `/tasks/${parent}/subtasks`, { name: 'Write copy', assignee: 'me' });
      const subtasks = await get(bob, `/tasks/${parent}/subtasks`);
      const parentTask = await get(bob, `/tasks/${parent}`);

      // Assess
      expect(reply.status).toBe(201);
      expect(one(reply)).toMatchObject({
        name: 'Write copy',
        parent: { gid: parent, name: 'Launch' },
        assignee: { gid: BOB },
        projects: [],
      });
      expect(gids(subtasks)).toEqual([one(reply).gid]);
      expect(one(parentTask).num_subtasks).toBe(1);
    });

    it('POST /tasks/{gid}/addProject adds the task to a project, at a position when asked', async () => {
      // Prepare
      const gid = await newTask({ name: 'Cross-team', projects: [WEBSITE] });

      // Act
      const added = await send(alice, 'POST', `/tasks/${gid}/addProject`, { project: LEADERSHIP, insert_before: '1401' });
      const missing = await send(alice, 'POST', `/tasks/${gid}/addProject`, {});
      const foreignAnchor = await send(alice, 'POST', `/tasks/${gid}/addProject`, { project: LEADERSHIP, insert_after: '1403' });

      // Assess
      expect(added.status).toBe(200);
      expect(added.body).toEqual({ data: {} });
      expect(gids(await get(alice, `/projects/${LEADERSHIP}/tasks`))[0]).toBe(gid);
      expect(one(await get(alice, `/tasks/${gid}`)).projects).toEqual([
        { gid: WEBSITE, name: 'Website', resource_type: 'project' },
        { gid: LEADERSHIP, name: 'Leadership OKR', resource_type: 'project' },
      ]);
      expect(missing.status).toBe(400);
      expect(errorMessage(missing)).toBe('project: Missing input');
      expect(foreignAnchor.status).toBe(400);
    });

    it('DELETE /tasks/{gid} deletes the task with its subtasks', async () => {
      // Prepare
      const gid = await newTask({ name: 'Temporary', projects: [WEBSITE] });
      const child = String(one(await send(alice, 'POST', `/tasks/${gid}/subtasks`, { name: 'Child' })).gid);

      // Act
      const reply = await send(alice, 'DELETE', `/tasks/${gid}`);

      // Assess
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ data: {} });
      expect((await get(alice, `/tasks/${gid}`)).status).toBe(404);
      expect((await get(alice, `/tasks/${child}`)).status).toBe(404);
      expect(gids(await get(alice, `/projects/${WEBSITE}/tasks`))).not.toContain(gid);
    });
  });

  describe('authentication and routing errors', () => {
    it.each([
      ['no token', undefined],
      ['an unknown token', 'not-a-token'],
    ])('answers 401 Not Authorized with %s', async (_what, token) => {
      const reply = await asana(emulator.url, token, 'GET', '/users/me');

      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ errors: [{ message: 'Not Authorized', help: expect.any(String) }] });
    });

    it('answers 404 No matching route for an unknown path or method', async () => {
      const path = await get(alice, '/portfolios');
      const method = await send(alice, 'PATCH', '/tasks/1403', {});

      expect(path.status).toBe(404);
      expect(errorMessage(path)).toBe('No matching route for request');
      expect(method.status).toBe(404);
    });
  });

  describe('request log', () => {
    it('records every API call with its Asana user (null without a valid token), query and status', async () => {
      // Prepare
      const since = emulator.requests().at(-1)?.seq ?? 0;

      // Act
      await get(alice, `/projects/${LEADERSHIP}/tasks`, { opt_fields: 'name' });
      await get(bob, `/projects/${LEADERSHIP}/tasks`);
      await asana(emulator.url, undefined, 'GET', '/users/me');
      await send(bob, 'POST', '/tasks/1403/stories', { text: 'logged' });
      const response = await fetch(`${emulator.url}/_control/requests?since=${since}`);

      // Assess
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        requests: [
          {
            seq: since + 1,
            method: 'GET',
            path: `/api/1.0/projects/${LEADERSHIP}/tasks`,
            query: { opt_fields: 'name' },
            asanaUserGid: ALICE,
            status: 200,
          },
          { seq: since + 2, method: 'GET', path: `/api/1.0/projects/${LEADERSHIP}/tasks`, query: {}, asanaUserGid: BOB, status: 404 },
          { seq: since + 3, method: 'GET', path: '/api/1.0/users/me', query: {}, asanaUserGid: null, status: 401 },
          { seq: since + 4, method: 'POST', path: '/api/1.0/tasks/1403/stories', query: {}, asanaUserGid: BOB, status: 201 },
        ],
      });
    });

    it('answers every entry without since, and 400 for a since that is not a number', async () => {
      // Act
      const all = z
        .object({ requests: z.array(z.object({ seq: z.number() })) })
        .parse(await (await fetch(`${emulator.url}/_control/requests`)).json());
      const bad = await fetch(`${emulator.url}/_control/requests?since=abc`);

      // Assess
      expect(all.requests.map((r) => r.seq)).toEqual(emulator.requests().map((r) => r.seq));
      expect(all.requests[0]?.seq).toBe(1);
      expect(bad.status).toBe(400);
    });
  });

  describe('tool routes', () => {
    it('maps each of the 21 tools, and every input field of each, to the REST call', () => {
      // Prepare
      const routes: Record<string, ToolRoute> = toolRoutes;

      // Assess
      expect(Object.keys(routes).sort()).toEqual(toolsFile.map((t) => t.name).sort());
      for (const tool of toolsFile) {
        const route = routes[tool.name];
        if (!route) throw new Error(`no route for ${tool.name}`);
        const pathFields = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const mapped = new Set([
          ...pathFields,
          ...Object.keys(route.query),
          ...Object.keys(route.body),
          ...Object.keys(route.dropped ?? {}),
        ]);
        expect([...mapped].sort(), tool.name).toEqual(Object.keys(tool.input_schema.properties).sort());
        expect(route.method === 'GET', tool.name).toBe(tool.kind === 'read');
      }
    });

    it('builds Asana requests: renamed and fixed query params, list bodies, required path fields', () => {
      expect(toAsanaRequest('asana_task_search', { workspace_gid: '1100', assignee: 'me', completed: false })).toEqual({
        method: 'GET',
        path: '/workspaces/1100/tasks/search',
        query: { 'assignee.any': 'me', completed: 'false' },
      });
      expect(toAsanaRequest('asana_projects_search', { workspace_gid: '1100', name: 'Web', archived: false })).toEqual({
        method: 'GET',
        path: '/workspaces/1100/typeahead',
        query: { resource_type: 'project', query: 'Web' },
      });
      expect(toAsanaRequest('asana_task_create', { name: 'n', projects: '1301, 1302', workspace_gid: '1100' })).toEqual({
        method: 'POST',
        path: '/tasks',
        query: {},
        body: { data: { name: 'n', projects: ['1301', '1302'], workspace: '1100' } },
      });
      expect(() => toAsanaRequest('asana_task_get', {})).toThrow(/task_gid is required/);
      expect(() => toAsanaRequest('asana_teams_list', {})).toThrow(/unknown Asana tool/);
    });

    it('executes all 21 tools against the emulator as Alice', async () => {
      const call = async (tool: string, input: Record<string, unknown>): Promise<Record<string, unknown>> => {
        const reply = await fetchAsanaTool(emulator.url, alice, tool, input);
        expect(reply.status, `${tool}: ${JSON.stringify(reply.body)}`).toBeLessThan(300);
        return z.looseObject({ data: z.unknown() }).parse(reply.body);
      };
      const gidOf = (body: Record<string, unknown>): string => z.object({ gid: z.string() }).parse(body.data).gid;

      // Act: reads
      expect(gidOf(await call('asana_me_get', {}))).toBe(ALICE);
      await call('asana_workspaces_list', {});
      await call('asana_users_list', { workspace_gid: WORKSPACE });
      await call('asana_projects_list', { workspace_gid: WORKSPACE });
      expect(JSON.stringify(await call('asana_projects_search', { workspace_gid: WORKSPACE, name: 'Leadership' }))).toContain(LEADERSHIP);
      expect(gidOf(await call('asana_project_get', { project_gid: LEADERSHIP }))).toBe(LEADERSHIP);
      await call('asana_project_tasks_list', { project_gid: LEADERSHIP });
      await call('asana_sections_list', { project_gid: LEADERSHIP });
      await call('asana_tasks_list', { assignee: 'me', workspace_gid: WORKSPACE, completed_since: 'now' });
      expect(gidOf(await call('asana_task_get', { task_gid: '1401' }))).toBe('1401');
      expect(JSON.stringify(await call('asana_task_search', { workspace_gid: WORKSPACE, text: 'revenue' }))).toContain('1401');
      expect(JSON.stringify(await call('asana_task_stories_list', { task_gid: '1401' }))).toContain('Finance numbers due Friday.');
      await call('asana_task_subtasks_list', { task_gid: '1401' });
      const myList = gidOf(await call('asana_user_task_list_for_user_get', { user_gid: 'me', workspace_gid: WORKSPACE }));
      expect(JSON.stringify(await call('asana_my_tasks_list', { user_task_list_gid: myList }))).toContain('1402');

      // Act: writes
      const created = gidOf(await call('asana_task_create', { name: 'Via tool', projects: WEBSITE, assignee: 'me' }));
      await call('asana_task_update', { task_gid: created, completed: true });
      await call('asana_story_create', { task_gid: created, text: 'tool comment' });
      await call('asana_subtask_create', { task_gid: created, name: 'tool subtask' });
      await call('asana_task_add_project', { task_gid: created, project: LEADERSHIP });
      const after = await call('asana_task_get', { task_gid: created, opt_fields: 'completed,projects,num_subtasks' });
      await call('asana_task_delete', { task_gid: created });

      // Assess
      expect(after.data).toMatchObject({ completed: true, num_subtasks: 1, projects: [{ gid: WEBSITE }, { gid: LEADERSHIP }] });
      expect((await fetchAsanaTool(emulator.url, alice, 'asana_task_get', { task_gid: created })).status).toBe(404);
    });
  });
});
