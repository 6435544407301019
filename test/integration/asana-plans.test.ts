import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startAsana } from '../../infra/local/asana/server';
import { loadWorld, type World } from '../../infra/local/world';
import { asana } from '../support/asana';

/**
 * The local Asana as the real one on the first day: scopes it demands beyond the plain read and
 * write ones (`workspaces.typeahead:read`, `tasks:delete`), task search that is premium-only
 * (`402` with Asana's body) and lags behind the tasks (`workspace.premium`, `workspace.searchLagMs`
 * of the world), and a consent page that offers the scopes the app asked for.
 */

const TEST_CLIENT = { clientId: 'plans-client', clientSecret: 'plans-secret' };
const ALICE = '1201';
const BASE_READ = 'users:read workspaces:read projects:read tasks:read stories:read';
const BASE_WRITE = `${BASE_READ} tasks:write stories:write`;

const base = loadWorld();
const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const service of running.splice(0)) await service.close();
});
afterAll(async () => {
  for (const service of running.splice(0)) await service.close();
});

async function emulatorFor(workspace: Partial<World['workspace']> = {}) {
  const emulator = await startAsana({ world: { ...base, workspace: { ...base.workspace, ...workspace } }, oauthClients: [TEST_CLIENT] });
  running.push(emulator);
  return emulator;
}

const workspaceGid = base.workspace.gid;
const publicProject = base.projects.find((project) => project.public)!;
const seededTask = base.tasks.find((task) => task.project === publicProject.gid)!;

describe('scopes beyond read and write', () => {
  it('needs workspaces.typeahead:read to find projects by name', async () => {
    const emulator = await emulatorFor();
    const without = emulator.issueTokenFor(ALICE, BASE_WRITE).accessToken;
    const withIt = emulator.issueTokenFor(ALICE, `${BASE_READ} workspaces.typeahead:read`).accessToken;
    const query = { resource_type: 'project', query: publicProject.name.slice(0, 3) };

    const refused = await asana(emulator.url, without, 'GET', `/workspaces/${workspaceGid}/typeahead`, { query });
    const found = await asana(emulator.url, withIt, 'GET', `/workspaces/${workspaceGid}/typeahead`, { query });

    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).toContain('workspaces.typeahead:read');
    expect(found.status).toBe(200);
    expect(JSON.stringify(found.body)).toContain(publicProject.gid);
  });

  it('needs tasks:delete to delete a task; tasks:write is not enough', async () => {
    const emulator = await emulatorFor();
    const writer = emulator.issueTokenFor(ALICE, BASE_WRITE).accessToken;
    const deleter = emulator.issueTokenFor(ALICE, `${BASE_WRITE} tasks:delete`).accessToken;
    const created = await asana(emulator.url, writer, 'POST', '/tasks', { data: { name: 'Short-lived', projects: [publicProject.gid] } });
    expect(created.status).toBe(201);
    const gid = String((created.body as { data: { gid: string } }).data.gid);

    const refused = await asana(emulator.url, writer, 'DELETE', `/tasks/${gid}`);
    const deleted = await asana(emulator.url, deleter, 'DELETE', `/tasks/${gid}`);

    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).toContain('tasks:delete');
    expect(deleted.status).toBe(200);
    expect((await asana(emulator.url, writer, 'GET', `/tasks/${gid}`)).status).toBe(404);
  });
});

describe('task search as on Asana’s plans', () => {
  it('answers 402 with Asana’s error body when the workspace is not premium; other reads still work', async () => {
    const emulator = await emulatorFor({ premium: false });
    const token = emulator.issueTokenFor(ALICE).accessToken;

    const search = await asana(emulator.url, token, 'GET', `/workspaces/${workspaceGid}/tasks/search`, {
      query: { text: seededTask.name },
    });
    const listed = await asana(emulator.url, token, 'GET', `/projects/${publicProject.gid}/tasks`);

    expect(search.status).toBe(402);
    expect(search.body).toEqual({
      errors: [{ message: 'Search is only available to premium users.', help: expect.stringContaining('developers.asana.com') }],
    });
    expect(listed.status).toBe(200);
  });

  it('finds seeded tasks at once but misses a task created or changed within the search lag', async () => {
    const emulator = await emulatorFor({ searchLagMs: 600_000 });
    const token = emulator.issueTokenFor(ALICE).accessToken;
    const created = await asana(emulator.url, token, 'POST', '/tasks', {
      data: { name: 'Freshly indexed', projects: [publicProject.gid] },
    });
    const gid = String((created.body as { data: { gid: string } }).data.gid);
    const search = (text: string) =>
      asana(emulator.url, token, 'GET', `/workspaces/${workspaceGid}/tasks/search`, { query: { text } }).then((reply) =>
        JSON.stringify(reply.body),
      );

    expect(await search(seededTask.name)).toContain(seededTask.gid);
    expect(await search('Freshly indexed')).not.toContain(gid);
    // The task is there: listing the project shows it.
    expect(JSON.stringify((await asana(emulator.url, token, 'GET', `/projects/${publicProject.gid}/tasks`)).body)).toContain(gid);
  });

  it('keeps search premium and without lag in a world that says nothing', async () => {
    const emulator = await emulatorFor();
    const token = emulator.issueTokenFor(ALICE).accessToken;
    const created = await asana(emulator.url, token, 'POST', '/tasks', { data: { name: 'Found at once', projects: [publicProject.gid] } });
    const gid = String((created.body as { data: { gid: string } }).data.gid);

    const search = await asana(emulator.url, token, 'GET', `/workspaces/${workspaceGid}/tasks/search`, {
      query: { text: 'Found at once' },
    });

    expect(search.status).toBe(200);
    expect(JSON.stringify(search.body)).toContain(gid);
  });
});

describe('the consent page offers what the app asked for', () => {
  it('shows the requested scopes as read-write, and their read scopes as the local read-only choice', async () => {
    const emulator = await emulatorFor();
    const requested = `${BASE_WRITE} workspaces.typeahead:read tasks:delete`;
    const url = `${emulator.url}/oauth/authorize?${new URLSearchParams({
      client_id: TEST_CLIENT.clientId,
      redirect_uri: 'http://127.0.0.1:9/asana/callback',
      response_type: 'code',
      state: 's',
      scope: requested,
    })}`;

    const html = await (await fetch(url)).text();

    expect(html).toContain(`<input type="radio" name="scope" value="${requested}" checked>`);
    expect(html).toContain(`<input type="radio" name="scope" value="${BASE_READ} workspaces.typeahead:read">`);
  });
});
