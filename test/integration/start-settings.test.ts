import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/constructs/onbehalf-function';

/**
 * `npm start` cross-checks the deadline settings before any service starts (`docs/api.md`,
 * "Deadlines"), as `cdk synth` does: a value that breaks a rule stops it with a message naming
 * the setting, before anything is started or written.
 */
function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'infra/local/start.ts', '--memory', '--port', '0'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('npm start refuses deadline settings that break the rules', () => {
  it.each([
    [{ ONBEHALF_TIME_BUDGET_MS: '27000' }, 'ONBEHALF_TIME_BUDGET_MS must be at most 26000'],
    [{ ONBEHALF_STREAM_TIME_BUDGET_MS: '900000' }, 'ONBEHALF_STREAM_TIME_BUDGET_MS must be at most 840000'],
    [{ ONBEHALF_CHAT_TIMEOUT_SECONDS: '100' }, 'ONBEHALF_CHAT_TIMEOUT_SECONDS must be at least the streaming budget plus 30 s'],
    [{ ONBEHALF_STREAM_TIME_BUDGET_MS: 'soon' }, 'ONBEHALF_STREAM_TIME_BUDGET_MS'],
  ])('%o stops it, naming the setting', (env, message) => {
    const result = start(env);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
    expect(result.stdout).not.toContain('stack is up');
  });
});
