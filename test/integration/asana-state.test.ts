import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AsanaEmulator, startAsana } from '../../infra/local/asana/server';
import { loadWorld } from '../../infra/local/world';
import { asana, gids, one, otherWorld, TEST_CLIENT } from '../support/asana';

describe('Asana emulator state file', () => {
  let dir: string;
  let running: AsanaEmulator | undefined;

  const start = async (world = loadWorld()): Promise<AsanaEmulator> => {
    running = await startAsana({ world, stateFile: join(dir, 'asana.json'), oauthClients: [TEST_CLIENT] });
    return running;
  };
  const stop = async (): Promise<void> => {
    await running?.close();
    running = undefined;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'onbehalf-asana-state-'));
  });

  afterEach(stop);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps tasks, comments, tokens and the request log across a restart, and never reuses a gid', async () => {
    // Prepare
    const first = await start();
    const { accessToken } = first.issueTokenFor('1201');
    const created = one(await asana(first.url, accessToken, 'POST', '/tasks', { data: { name: 'Survives restarts', projects: ['1301'] } }));
    await asana(first.url, accessToken, 'POST', `/tasks/${String(created.gid)}/stories`, { data: { text: 'still here' } });
    const lastSeq = first.requests().at(-1)?.seq ?? 0;
    await stop();

    // Act
    const second = await start();
    const tasks = await asana(second.url, accessToken, 'GET', '/projects/1301/tasks');
    const stories = await asana(second.url, accessToken, 'GET', `/tasks/${String(created.gid)}/stories`);
    const another = one(await asana(second.url, accessToken, 'POST', '/tasks', { data: { name: 'Later', projects: ['1301'] } }));

    // Assess
    expect(tasks.status).toBe(200);
    expect(gids(tasks)).toContain(created.gid);
    expect(JSON.stringify(stories.body)).toContain('still here');
    expect(BigInt(String(another.gid))).toBeGreaterThan(BigInt(String(created.gid)));
    expect(second.requests(lastSeq)[0]?.seq).toBe(lastSeq + 1);
  });

  it('starts afresh when the state was seeded from another world', async () => {
    // Prepare
    const first = await start();
    const { accessToken } = first.issueTokenFor('1201');
    await asana(first.url, accessToken, 'POST', '/tasks', { data: { name: 'From Acme', projects: ['1301'] } });
    await stop();

    // Act
    const second = await start(otherWorld);
    const oldToken = await asana(second.url, accessToken, 'GET', '/users/me');
    const fresh = second.issueTokenFor('7701').accessToken;
    const search = await asana(second.url, fresh, 'GET', '/workspaces/7700/tasks/search', { query: { text: 'From Acme' } });

    // Assess
    expect(oldToken.status).toBe(401);
    expect(search.body.data).toEqual([]);
    expect(second.requests()).toHaveLength(2);
  });
});
