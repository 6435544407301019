import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TargetFlags } from './args';
import { type StackFile, stackFactsSchema } from './contract';
import { CliError, ExitCode, UsageError } from './errors';
import type { Terminal } from './terminal';

/** Where the CLI talks to and whom it logs in as. */
export interface Target {
  /** `local`: the one-machine stack from its `stack.json`; `deployment`: `--api`. */
  readonly kind: 'local' | 'deployment';
  readonly apiUrl: string;
  readonly cognito: {
    /** `undefined`: Cognito's regional default endpoint. */
    readonly endpoint?: string;
    readonly clientId: string;
    readonly region: string;
  };
  readonly username: string;
  /** The password, read only when a password login is needed (prompted on a deployment). */
  password(): Promise<string>;
  /** Local only: the Asana emulator account with the same username, for `--auto-consent`. */
  readonly asanaUser?: { readonly email: string; readonly password: string };
  /** What to tell the user when the API or Cognito cannot be reached. */
  readonly unreachableHint: string;
}

/**
 * Resolves the target from the flags and environment. Local: reads `stack.json` (default
 * `<root>/.onbehalf/stack.json`), the user's password from its `users`. Deployment (`--api`):
 * username from `--user` / `ONBEHALF_USERNAME` (asked when a terminal is there), app client and
 * region from flags or environment, password from `ONBEHALF_PASSWORD` or asked without echo.
 */
export async function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv, root: string, terminal: Terminal): Promise<Target> {
  if (flags.api !== undefined) return deploymentTarget(flags, flags.api, env, terminal);
  for (const [flag, value] of [
    ['--user-pool-client-id', flags.userPoolClientId],
    ['--region', flags.region],
    ['--cognito-endpoint', flags.cognitoEndpoint],
  ] as const) {
    if (value !== undefined) throw new UsageError(`${flag} goes with --api; the local stack's Cognito comes from stack.json.`);
  }
  return localTarget(flags, root);
}

function localTarget(flags: TargetFlags, root: string): Target {
  const file = flags.stack === undefined ? join(root, '.onbehalf', 'stack.json') : resolve(flags.stack);
  const facts = readStackFile(file, flags.stack === undefined);
  // Without --user: the stack's first seeded user (alice in the default world), whatever the world.
  const username = flags.user ?? facts.users[0]?.username ?? '';
  const user = facts.users.find((candidate) => candidate.username === username);
  if (!user) {
    throw new UsageError(
      `The local stack has no user "${username}".`,
      `Seeded users: ${facts.users.map((candidate) => candidate.username).join(', ')}.`,
    );
  }
  return {
    kind: 'local',
    apiUrl: trimSlash(facts.apiUrl),
    cognito: { endpoint: trimSlash(facts.cognito.endpoint), clientId: facts.cognito.clientId, region: facts.cognito.region },
    username,
    password: () => Promise.resolve(user.password),
    // Locally the Asana account of a person shares the username's email and password (docs/local-stack.md).
    asanaUser: { email: user.email, password: user.password },
    unreachableHint: 'Is the local stack running? Start it with `npm start`.',
  };
}

function readStackFile(file: string, isDefault: boolean): StackFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(
        'stack_not_running',
        isDefault ? `The local stack is not running (${file} does not exist).` : `No stack file at ${file}.`,
        ExitCode.unreachable,
        'Start it with `npm start`, or pass --api <url> for a deployment.',
      );
    }
    throw new CliError('stack_file_unreadable', `Cannot read ${file}: ${(error as Error).message}`, ExitCode.usage);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError('stack_file_invalid', `${file} is not JSON.`, ExitCode.usage, 'Restart the stack with `npm start` to rewrite it.');
  }
  const parsed = stackFactsSchema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join('.') || '(root)';
    throw new CliError('stack_file_invalid', `${file} does not look like the stack's facts (at ${where}).`, ExitCode.usage);
  }
  return parsed.data;
}

async function deploymentTarget(flags: TargetFlags, api: string, env: NodeJS.ProcessEnv, terminal: Terminal): Promise<Target> {
  const apiUrl = trimSlash(api);
  const clientId = flags.userPoolClientId ?? nonEmpty(env.ONBEHALF_CLIENT_ID);
  if (clientId === undefined)
    throw new UsageError('--api needs the Cognito app client id: --user-pool-client-id <id> or ONBEHALF_CLIENT_ID.');
  const endpoint = flags.cognitoEndpoint ?? nonEmpty(env.ONBEHALF_COGNITO_ENDPOINT);
  const region =
    flags.region ??
    nonEmpty(env.AWS_REGION) ??
    nonEmpty(env.AWS_DEFAULT_REGION) ??
    regionOfExecuteApi(apiUrl) ??
    // A custom endpoint (a local pool) still needs a region for the SDK; its value does not matter.
    (endpoint === undefined ? undefined : 'us-east-1');
  if (region === undefined) throw new UsageError('--api needs the Cognito region: --region <region> or AWS_REGION.');

  let username = flags.user ?? nonEmpty(env.ONBEHALF_USERNAME);
  if (username === undefined && terminal.interactive) username = nonEmpty((await terminal.ask('Username: '))?.trim());
  if (username === undefined) throw new UsageError('--api needs a username: --user <name> or ONBEHALF_USERNAME.');

  let password = nonEmpty(env.ONBEHALF_PASSWORD);
  return {
    kind: 'deployment',
    apiUrl,
    cognito: { endpoint: endpoint === undefined ? undefined : trimSlash(endpoint), clientId, region },
    username,
    password: async () => {
      password ??= nonEmpty(await terminal.askSecret(`Password for ${username}: `));
      if (password === undefined)
        throw new UsageError(`No password for ${username}: set ONBEHALF_PASSWORD, or run in a terminal to be asked.`);
      return password;
    },
    unreachableHint: `Check --api (${apiUrl}) and your network.`,
  };
}

/** `https://<id>.execute-api.<region>.amazonaws.com/…` names its region. */
function regionOfExecuteApi(apiUrl: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(apiUrl).hostname)?.[1];
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
