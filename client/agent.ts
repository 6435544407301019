/**
 * `npm run agent -- …`: the onbehalf command line. It talks to the API only over HTTP (and to
 * Cognito to log in), like any other client. Usage: `npm run agent -- --help`; exit statuses in
 * `client/cli/errors.ts` and `docs/cli.md`.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './cli/commands';
import { ApiError, CliError, ExitCode, type ExitStatus } from './cli/errors';
import { processTerminal, type Terminal } from './cli/terminal';

// The AWS SDK warns on every Node 20 process; the CLI supports Node 20 (package.json engines).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function main(): Promise<ExitStatus> {
  const terminal = processTerminal();
  try {
    await runCli(process.argv.slice(2), { env: process.env, root, terminal });
    return ExitCode.ok;
  } catch (error) {
    return reportError(terminal, error);
  } finally {
    terminal.close();
  }
}

/** `error: <code>: <message>` on stderr, then details and a hint; the error's exit status. */
function reportError(terminal: Terminal, error: unknown): ExitStatus {
  if (!(error instanceof CliError)) {
    terminal.err(`error: internal: ${error instanceof Error ? error.message : String(error)}`);
    return ExitCode.failed;
  }
  terminal.err(`error: ${error.code}: ${error.message}`);
  if (error instanceof ApiError) {
    for (const detail of error.details) terminal.err(`  - ${describeDetail(detail)}`);
  }
  if (error.hint) terminal.err(error.hint);
  return error.exitCode;
}

function describeDetail(detail: unknown): string {
  if (typeof detail === 'object' && detail !== null) {
    const { path, message } = detail as { path?: unknown; message?: unknown };
    if (typeof message === 'string') return typeof path === 'string' && path !== '' ? `${path}: ${message}` : message;
  }
  return JSON.stringify(detail);
}

const code = await main();
// Let stdout drain (piped output is asynchronous on some platforms) before leaving.
process.stdout.write('', () => process.exit(code));
