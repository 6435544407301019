import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type CheckResult, localTarget, runDoctor } from '../../infra/doctor';

const stack = inject('stack');
const dir = mkdtempSync(join(tmpdir(), 'onbehalf-doctor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const byName = (results: readonly CheckResult[], name: string) => results.find((result) => result.name === name);

/** A loopback address nothing listens on: the model stand-in, down. */
async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return `http://127.0.0.1:${port}`;
}

describe('npm run doctor on the local stack', () => {
  it('passes every check of a healthy stack', async () => {
    // Act
    const results = await runDoctor(localTarget(stack, { env: {} }));
    // Assess
    expect(results.filter((result) => !result.ok)).toEqual([]);
    expect(results.map((result) => result.name)).toEqual([
      'API reachable',
      'Cognito sign-in',
      'Scalekit credentials',
      'connection "asana"',
      'Anthropic key and model',
      'verify URL',
    ]);
  }, 60_000);

  it('fails the Scalekit check, with its fix, when the secret is wrong, and checks no connection with it', async () => {
    // Act
    const results = await runDoctor(localTarget({ ...stack, scalekit: { ...stack.scalekit, clientSecret: 'wrong-secret' } }, { env: {} }));
    // Assess
    expect(byName(results, 'Scalekit credentials')).toMatchObject({ ok: false, fix: expect.stringContaining('Scalekit secret') });
    expect(byName(results, 'connection "asana"')).toBeUndefined();
    expect(byName(results, 'Anthropic key and model')?.ok).toBe(true);
  }, 60_000);

  it('fails an unknown connection by name, and passes the known one', async () => {
    // Act
    const results = await runDoctor(localTarget(stack, { env: {}, connections: ['asana', 'jira'] }));
    // Assess
    expect(byName(results, 'connection "asana"')?.ok).toBe(true);
    expect(byName(results, 'connection "jira"')).toMatchObject({ ok: false, fix: expect.stringContaining('"jira"') });
  }, 60_000);

  it('fails the model check when the model stand-in is down, and exits 1 from the command line, one line per check', async () => {
    // Prepare
    const file = join(dir, 'stack.json');
    writeFileSync(file, JSON.stringify({ ...stack, modelUrl: await closedUrl() }), { mode: 0o600 });
    // Act
    const run = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'infra/doctor.ts', '--stack-file', file], {
      env: { ...process.env, ONBEHALF_MODEL: '', ONBEHALF_CONNECTIONS: '' },
    }).then(
      (output) => ({ code: 0, stdout: output.stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    // Assess
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^FAIL {2}Anthropic key and model: Claude could not be reached: .*\. Fix: /));
    expect(lines).toContainEqual(expect.stringMatching(/^PASS {2}Scalekit credentials: /));
    expect(lines.at(-1)).toBe('1 check(s) failed');
  }, 90_000);
});
