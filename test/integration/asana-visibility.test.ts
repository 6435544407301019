import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AsanaEmulator, startAsana } from '../../infra/local/asana/server';
import { loadWorld, type World } from '../../infra/local/world';
import { asana, errorMessage, gids, list, one, otherWorld, TEST_CLIENT, writeWorldFile } from '../support/asana';

/** Who plays which part in a world, and what must stay hidden from the outsider. */
interface VisibilityCase {
  readonly label: string;
  readonly world: () => World;
  readonly workspace: string;
  /** Member of the private project. */
  readonly insider: string;
  /** Workspace member outside the private project. */
  readonly outsider: string;
  readonly admin: string;
  readonly privateProject: { gid: string; name: string };
  readonly privateTask: { gid: string; name: string; comment: string };
  readonly publicProject: string;
  readonly publicTask: string;
}

const cases: VisibilityCase[] = [
  {
    label: 'the default world',
    world: () => loadWorld(),
    workspace: '1100',
    insider: '1201',
    outsider: '1202',
    admin: '1299',
    privateProject: { gid: '1302', name: 'Leadership OKR' },
    privateTask: { gid: '1401', name: 'FY27 revenue target', comment: 'Finance numbers due Friday.' },
    publicProject: '1301',
    publicTask: '1403',
  },
  {
    label: 'a second world written by the test',
    world: () => loadWorld(writeWorldFile(otherWorld)),
    workspace: '7700',
    insider: '7701',
    // Dave is the assignee of the private task and still outside its project.
    outsider: '7702',
    admin: '7790',
    privateProject: { gid: '7802', name: 'Board Minutes' },
    privateTask: { gid: '7901', name: 'Acquisition shortlist', comment: 'Keep this between us.' },
    publicProject: '7801',
    publicTask: '7903',
  },
];

describe.each(cases)('Asana visibility in $label', (c) => {
  let emulator: AsanaEmulator;
  let insider: string;
  let outsider: string;
  let admin: string;
  let insiderReadOnly: string;
  const get = (token: string, path: string, query?: Record<string, string>) => asana(emulator.url, token, 'GET', path, { query });

  beforeAll(async () => {
    emulator = await startAsana({ world: c.world(), oauthClients: [TEST_CLIENT] });
    insider = emulator.issueTokenFor(c.insider).accessToken;
    outsider = emulator.issueTokenFor(c.outsider).accessToken;
    admin = emulator.issueTokenFor(c.admin).accessToken;
    insiderReadOnly = emulator.issueTokenFor(c.insider, 'read').accessToken;
  });

  afterAll(async () => {
    await emulator.close();
  });

  describe('the outsider', () => {
    it('does not see the private project in project lists or project search', async () => {
      // Act
      const projects = await get(outsider, '/projects', { workspace: c.workspace });
      const search = await get(outsider, `/workspaces/${c.workspace}/typeahead`, {
        resource_type: 'project',
        query: c.privateProject.name,
      });

      // Assess
      expect(projects.status).toBe(200);
      expect(gids(projects)).toContain(c.publicProject);
      expect(gids(projects)).not.toContain(c.privateProject.gid);
      expect(search.status).toBe(200);
      expect(list(search)).toEqual([]);
    });

    it.each([
      ['the project', (c: VisibilityCase) => `/projects/${c.privateProject.gid}`],
      ['its tasks', (c: VisibilityCase) => `/projects/${c.privateProject.gid}/tasks`],
      ['its sections', (c: VisibilityCase) => `/projects/${c.privateProject.gid}/sections`],
      ['a task', (c: VisibilityCase) => `/tasks/${c.privateTask.gid}`],
      ["a task's comments", (c: VisibilityCase) => `/tasks/${c.privateTask.gid}/stories`],
      ["a task's subtasks", (c: VisibilityCase) => `/tasks/${c.privateTask.gid}/subtasks`],
    ])('gets 404 Not a recognized ID for %s, exactly as for an id that does not exist', async (_what, path) => {
      // Act
      const hidden = await get(outsider, path(c));
      const absent = await get(outsider, path(c).replace(/\/(projects|tasks)\/\d+/, '/$1/999999999'));

      // Assess
      expect(hidden.status).toBe(404);
      expect(errorMessage(hidden)).toMatch(/Not a recognized ID/);
      expect(absent.status).toBe(404);
      expect(errorMessage(hidden).replace(/\d+$/, '')).toBe(errorMessage(absent).replace(/\d+$/, ''));
      expect(JSON.stringify(hidden.body)).not.toContain(c.privateProject.name);
    });

    it('gets 404 listing tasks by the private project', async () => {
      const reply = await get(outsider, '/tasks', { project: c.privateProject.gid });

      expect(reply.status).toBe(404);
      expect(errorMessage(reply)).toBe(`project: Not a recognized ID: ${c.privateProject.gid}`);
    });

    it('never finds private tasks by search, by name or at all', async () => {
      // Act
      const byName = await get(outsider, `/workspaces/${c.workspace}/tasks/search`, { text: c.privateTask.name });
      const everything = await get(outsider, `/workspaces/${c.workspace}/tasks/search`);
      const byAssignee = await get(outsider, `/workspaces/${c.workspace}/tasks/search`, { 'assignee.any': `${c.insider},${c.outsider}` });
      const typeahead = await get(outsider, `/workspaces/${c.workspace}/typeahead`, { resource_type: 'task', query: c.privateTask.name });

      // Assess
      expect(list(byName)).toEqual([]);
      expect(gids(everything)).toContain(c.publicTask);
      expect(gids(everything)).not.toContain(c.privateTask.gid);
      expect(gids(byAssignee)).not.toContain(c.privateTask.gid);
      expect(list(typeahead)).toEqual([]);
    });

    it("never sees private tasks in anyone's My Tasks or assigned-task list", async () => {
      // Prepare
      const insiderList = one(await get(outsider, `/users/${c.insider}/user_task_list`, { workspace: c.workspace }));
      const ownList = one(await get(outsider, '/users/me/user_task_list', { workspace: c.workspace }));

      // Act
      const insiderTasks = await get(outsider, `/user_task_lists/${String(insiderList.gid)}/tasks`);
      const ownTasks = await get(outsider, `/user_task_lists/${String(ownList.gid)}/tasks`);
      const assignedToInsider = await get(outsider, '/tasks', { assignee: c.insider, workspace: c.workspace });
      const assignedToSelf = await get(outsider, '/tasks', { assignee: 'me', workspace: c.workspace });

      // Assess
      for (const reply of [insiderTasks, ownTasks, assignedToInsider, assignedToSelf]) {
        expect(reply.status).toBe(200);
        expect(gids(reply)).not.toContain(c.privateTask.gid);
      }
      expect(gids(ownTasks)).toContain(c.publicTask);
    });

    it('cannot write to the private project or its tasks', async () => {
      // Act
      const replies = await Promise.all([
        asana(emulator.url, outsider, 'POST', `/tasks/${c.privateTask.gid}/stories`, { data: { text: 'peek' } }),
        asana(emulator.url, outsider, 'PUT', `/tasks/${c.privateTask.gid}`, { data: { name: 'mine now' } }),
        asana(emulator.url, outsider, 'POST', `/tasks/${c.privateTask.gid}/subtasks`, { data: { name: 'sneaky' } }),
        asana(emulator.url, outsider, 'DELETE', `/tasks/${c.privateTask.gid}`),
        asana(emulator.url, outsider, 'POST', '/tasks', { data: { name: 'plant', projects: [c.privateProject.gid] } }),
        asana(emulator.url, outsider, 'POST', `/tasks/${c.publicTask}/addProject`, { data: { project: c.privateProject.gid } }),
      ]);

      // Assess
      expect(replies.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404]);
      const task = one(await get(insider, `/tasks/${c.privateTask.gid}`));
      expect(task.name).toBe(c.privateTask.name);
      expect(gids(await get(insider, `/tasks/${c.privateTask.gid}/stories`))).toHaveLength(1);
    });

    it("does not learn the private project's name from a shared task's memberships", async () => {
      // Prepare: the insider puts a public task into the private project too
      const created = one(
        await asana(emulator.url, insider, 'POST', '/tasks', { data: { name: 'Shared item', projects: [c.publicProject] } }),
      );
      const taskGid = String(created.gid);
      const added = await asana(emulator.url, insider, 'POST', `/tasks/${taskGid}/addProject`, { data: { project: c.privateProject.gid } });

      // Act
      const asOutsider = await get(outsider, `/tasks/${taskGid}`);
      const asInsider = await get(insider, `/tasks/${taskGid}`);

      // Assess
      expect(added.status).toBe(200);
      expect(asOutsider.status).toBe(200);
      expect(JSON.stringify(asOutsider.body)).not.toContain(c.privateProject.name);
      expect(JSON.stringify(one(asInsider).projects)).toContain(c.privateProject.name);
    });
  });

  describe('the insider', () => {
    it('sees the private project, its tasks and their comments by every route', async () => {
      // Act
      const project = await get(insider, `/projects/${c.privateProject.gid}`);
      const tasks = await get(insider, `/projects/${c.privateProject.gid}/tasks`);
      const task = await get(insider, `/tasks/${c.privateTask.gid}`);
      const stories = await get(insider, `/tasks/${c.privateTask.gid}/stories`);
      const search = await get(insider, `/workspaces/${c.workspace}/tasks/search`, { text: c.privateTask.name });

      // Assess
      expect(one(project).name).toBe(c.privateProject.name);
      expect(gids(tasks)).toContain(c.privateTask.gid);
      expect(one(task).name).toBe(c.privateTask.name);
      expect(list(stories).map((s) => s.text)).toEqual([c.privateTask.comment]);
      expect(gids(search)).toEqual([c.privateTask.gid]);
    });

    it('cannot write with a read-only grant, though it can read', async () => {
      // Act
      const read = await get(insiderReadOnly, `/tasks/${c.privateTask.gid}`);
      const writes = await Promise.all([
        asana(emulator.url, insiderReadOnly, 'POST', '/tasks', { data: { name: 'x', projects: [c.privateProject.gid] } }),
        asana(emulator.url, insiderReadOnly, 'PUT', `/tasks/${c.privateTask.gid}`, { data: { completed: true } }),
        asana(emulator.url, insiderReadOnly, 'POST', `/tasks/${c.privateTask.gid}/stories`, { data: { text: 'hi' } }),
        asana(emulator.url, insiderReadOnly, 'DELETE', `/tasks/${c.privateTask.gid}`),
      ]);

      // Assess
      expect(read.status).toBe(200);
      for (const reply of writes) {
        expect(reply.status).toBe(403);
        expect(errorMessage(reply)).toMatch(/scope/);
      }
      expect(one(await get(insider, `/tasks/${c.privateTask.gid}`)).completed).toBe(false);
    });
  });

  describe('the admin account', () => {
    it('sees every project and task without being a member', async () => {
      // Act
      const projects = await get(admin, '/projects', { workspace: c.workspace });
      const task = await get(admin, `/tasks/${c.privateTask.gid}`);
      const search = await get(admin, `/workspaces/${c.workspace}/tasks/search`);

      // Assess
      expect(gids(projects)).toEqual(expect.arrayContaining([c.privateProject.gid, c.publicProject]));
      expect(task.status).toBe(200);
      expect(gids(search)).toEqual(expect.arrayContaining([c.privateTask.gid, c.publicTask]));
    });
  });

  it("logs the outsider's refused reads under the outsider's Asana user", async () => {
    // Prepare
    const since = emulator.requests().at(-1)?.seq ?? 0;

    // Act
    await get(outsider, `/tasks/${c.privateTask.gid}`);
    const log = await fetch(`${emulator.url}/_control/requests?since=${since}`);

    // Assess
    expect(await log.json()).toEqual({
      requests: [
        { seq: since + 1, method: 'GET', path: `/api/1.0/tasks/${c.privateTask.gid}`, query: {}, asanaUserGid: c.outsider, status: 404 },
      ],
    });
  });
});
