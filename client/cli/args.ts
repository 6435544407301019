import { parseArgs } from 'node:util';
import { UsageError } from './errors';

/** What the CLI was asked to do. */
export type Command = 'chat' | 'connect' | 'connections' | 'disconnect' | 'login' | 'logout' | 'help';

/** Where to log in and whom as, before any file or environment is read. */
export interface TargetFlags {
  /** `--user` / `--username`: the Cognito username. */
  readonly user?: string;
  /** `--api`: a deployment's API URL; without it the local stack is used. */
  readonly api?: string;
  readonly userPoolClientId?: string;
  readonly region?: string;
  readonly cognitoEndpoint?: string;
  /** `--stack`: the local stack's facts file (default `.onbehalf/stack.json`). */
  readonly stack?: string;
}

/** A parsed command line. */
export interface Invocation {
  readonly command: Command;
  /** The chat prompt; `undefined` when none was given. */
  readonly prompt?: string;
  /** The connection `connect` / `disconnect` act on. */
  readonly connection: string;
  readonly target: TargetFlags;
  readonly autoConsent: boolean;
  readonly conversation?: string;
  readonly json: boolean;
  /** `--no-stream`: ask run routes for one JSON answer instead of Server-Sent Events. */
  readonly noStream: boolean;
  /** How long `connect` waits for the browser to come back. */
  readonly waitSeconds: number;
  /** The loopback callback's port; 0 picks a free one. */
  readonly callbackPort: number;
}

/** The prompt used when `chat` is given none. */
export const DEFAULT_PROMPT = 'Create a high-priority task "Review Q3 roadmap" in the "Website" project and assign it to me';

const COMMANDS = new Set<Command>(['chat', 'connect', 'connections', 'disconnect', 'login', 'logout', 'help']);
const DEFAULT_WAIT_SECONDS = 600;

export const USAGE = `Usage: npm run agent -- [options] [command] [prompt…]

Commands:
  "<prompt>"             chat (the default): connects first if needed, runs the prompt, prints the reply
  chat ["<prompt>"]      the same, explicitly (without a prompt: ${JSON.stringify(DEFAULT_PROMPT)})
  connect [asana]        link your Asana account (prints "Authorize Asana: <url>", waits for the browser)
  connections            list your connections, their status and the account each acts as
  disconnect [asana]     revoke the connection
  login                  log in (fresh) and cache the tokens
  logout                 forget the cached tokens

Who and where:
  --user, -u <name>      Cognito username (local stack default: its first seeded user; password from stack.json)
  --stack <file>         local stack facts (default: .onbehalf/stack.json, written by \`npm start\`)
  --api <url>            a deployment's API URL instead of the local stack (env ONBEHALF_API_URL);
                         password from ONBEHALF_PASSWORD or prompted, username also from ONBEHALF_USERNAME
  --user-pool-client-id <id>   the deployment's Cognito app client (env ONBEHALF_CLIENT_ID)
  --region <region>      Cognito's region (env AWS_REGION; guessed from an execute-api URL)
  --cognito-endpoint <url>     a non-default Cognito endpoint (env ONBEHALF_COGNITO_ENDPOINT)

Chat and connect:
  --conversation, -c <id>      continue a conversation (without a prompt: finish its pending run)
  --auto-consent         local stack only: answer the local Asana's consent form over HTTP
                         as the Asana user with the same username
  --wait <seconds>       how long to wait for the browser after "Authorize Asana" (default ${DEFAULT_WAIT_SECONDS})
  --callback-port <n>    the port of the CLI's loopback verify URL http://127.0.0.1:<n>/callback
                         (env ONBEHALF_CALLBACK_PORT; default: a free port)
  --no-stream            one JSON answer per run request instead of a stream of events (tool calls
                         and the reply then show when each request ends)
  --json                 print each API answer (run outcomes) as one JSON line; nothing else on stdout
                         (implies --no-stream)
  --help, -h             this text

Exit status: 0 done, 1 API or unexpected error, 2 usage, 3 login failed,
4 stack/API not reachable, 5 authorization or approval not given.
Tokens are cached under ONBEHALF_CACHE_DIR (default ~/.cache/onbehalf).`;

/** Parses the command line (without `node` and the script). Throws {@link UsageError}. */
export function parseInvocation(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        user: { type: 'string', short: 'u' },
        username: { type: 'string' },
        api: { type: 'string' },
        'user-pool-client-id': { type: 'string' },
        region: { type: 'string' },
        'cognito-endpoint': { type: 'string' },
        stack: { type: 'string' },
        'auto-consent': { type: 'boolean', default: false },
        conversation: { type: 'string', short: 'c' },
        json: { type: 'boolean', default: false },
        'no-stream': { type: 'boolean', default: false },
        wait: { type: 'string' },
        'callback-port': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return invocation('help');

  const [first, ...rest] = positionals;
  const named = first !== undefined && COMMANDS.has(first as Command);
  const command: Command = named ? (first as Command) : 'chat';
  const args = named ? rest : positionals;

  if (values.user !== undefined && values.username !== undefined && values.user !== values.username) {
    throw new UsageError('--user and --username name different users; give one.');
  }
  const api = values.api ?? nonEmpty(env.ONBEHALF_API_URL);
  if (api !== undefined && values.stack !== undefined)
    throw new UsageError('--api and --stack exclude each other: a deployment or the local stack.');
  if (api !== undefined) checkUrl('--api', api);
  if (values['cognito-endpoint'] !== undefined) checkUrl('--cognito-endpoint', values['cognito-endpoint']);

  let prompt: string | undefined;
  let connection = 'asana';
  if (command === 'chat') {
    if (args.length > 0) prompt = args.join(' ');
    if (prompt !== undefined && prompt.trim() === '') throw new UsageError('The prompt is empty.');
  } else if (command === 'connect' || command === 'disconnect') {
    if (args.length > 1) throw new UsageError(`${command} takes at most one connection name, got: ${args.join(' ')}`);
    connection = args[0] ?? connection;
  } else if (args.length > 0) {
    throw new UsageError(`${command} takes no arguments, got: ${args.join(' ')}`);
  }
  if (values.conversation !== undefined && command !== 'chat') throw new UsageError('--conversation goes with a chat prompt.');
  if (values['auto-consent'] && command !== 'chat' && command !== 'connect')
    throw new UsageError('--auto-consent goes with connect or a chat prompt.');
  if (values['auto-consent'] && api !== undefined) {
    throw new UsageError('--auto-consent works only on the local stack (it signs in to the local Asana emulator).');
  }

  let waitSeconds = DEFAULT_WAIT_SECONDS;
  if (values.wait !== undefined) {
    waitSeconds = Number(values.wait);
    if (!Number.isFinite(waitSeconds) || waitSeconds <= 0)
      throw new UsageError(`--wait must be a positive number of seconds, got ${values.wait}`);
  }

  const rawPort = values['callback-port'] ?? nonEmpty(env.ONBEHALF_CALLBACK_PORT);
  const callbackPort = rawPort === undefined ? 0 : Number(rawPort);
  if (!Number.isInteger(callbackPort) || callbackPort < 0 || callbackPort > 65535) {
    throw new UsageError(`--callback-port must be a port number, got ${rawPort}`);
  }

  return invocation(command, {
    prompt,
    connection,
    target: {
      user: values.user ?? values.username,
      api,
      userPoolClientId: values['user-pool-client-id'],
      region: values.region,
      cognitoEndpoint: values['cognito-endpoint'],
      stack: values.stack,
    },
    autoConsent: values['auto-consent'],
    conversation: values.conversation,
    json: values.json,
    noStream: values['no-stream'],
    waitSeconds,
    callbackPort,
  });
}

function invocation(command: Command, rest: Partial<Omit<Invocation, 'command'>> = {}): Invocation {
  return {
    command,
    connection: 'asana',
    target: {},
    autoConsent: false,
    json: false,
    noStream: false,
    waitSeconds: DEFAULT_WAIT_SECONDS,
    callbackPort: 0,
    ...rest,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function checkUrl(flag: string, value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be an http(s) URL, got ${value}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${flag} must be an http(s) URL, got ${value}`);
}
