/**
 * What the CLI's exit status means, so scripts can rely on it (documented in `docs/cli.md`).
 */
export const ExitCode = {
  /** Done: the command succeeded, or the run completed (even with a declined approval). */
  ok: 0,
  /** The API answered an error, or something unexpected failed. */
  failed: 1,
  /** The command line (or a file it names) is wrong. */
  usage: 2,
  /** Logging in failed: wrong username or password, a challenge the CLI cannot answer, a refused token. */
  auth: 3,
  /** The local stack or the API (or Cognito) cannot be reached. */
  unreachable: 4,
  /** The run needs something the user did not give: an authorization not completed, an approval not answered. */
  incomplete: 5,
} as const;

export type ExitStatus = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure the CLI reports as `error: <code>: <message>` on stderr and turns into its exit
 * status. `hint` is an extra line telling the user what to do next.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitStatus,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** The command line is wrong (exit 2). */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string, hint = 'Run `npm run agent -- --help` for usage.') {
    super('usage', message, ExitCode.usage, hint);
  }
}

/** An error answered by the API, with the contract's `code`, `message` and `details`. */
export class ApiError extends CliError {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly details: readonly unknown[] = [],
    /** Set when a run failed after its conversation was created: it can be resumed. */
    readonly conversationId?: string,
  ) {
    super(
      code,
      message,
      code === 'unauthorized' ? ExitCode.auth : ExitCode.failed,
      conversationId ? `The conversation ${conversationId} is kept; continue it with --conversation ${conversationId}.` : undefined,
    );
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * The network reason behind a failed `fetch` or SDK call (`ECONNREFUSED`, …), or `undefined`
 * when the error is not about reaching the other side.
 */
export function networkReason(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') break;
    const { code, name, cause } = current as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    if (name === 'TimeoutError' || name === 'ConnectTimeoutError') return 'timed out';
    current = cause;
  }
  return undefined;
}
