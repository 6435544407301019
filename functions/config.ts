import * as z from 'zod/mini';
import './validation';
import catalog from './core/asana-tools.json';

/** Tools the product allows by default: every `read` and `write` tool of the catalog, never a `delete`. */
export const DEFAULT_TOOL_ALLOWLIST: readonly string[] = catalog
  .filter((tool) => tool.kind === 'read' || tool.kind === 'write')
  .map((tool) => tool.name)
  .sort();

const list = z.pipe(
  z.string(),
  z.transform((value: string) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  ),
);

const positiveInt = (fallback: number) => z._default(z.coerce.number().check(z.int(), z.positive()), fallback);

const toolPolicy = z.pipe(
  z.pipe(
    z.string(),
    z.transform((value: string, ctx) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        ctx.issues.push({ code: 'custom', message: 'must be JSON', input: value });
        return z.NEVER;
      }
    }),
  ),
  z.record(z.string(), z.enum(['allow', 'confirm', 'deny'])),
);

const url = z.pipe(
  z.url({ protocol: /^https?$/ }),
  z.transform((value: string) => value.replace(/\/+$/, '')),
);

const nonEmpty = () => z.string().check(z.minLength(1));

/**
 * Every setting of the functions, read from the environment once at cold start. Secrets come
 * either as values (local stack) or as Secrets Manager ARNs (deployment); never both needed.
 */
export const configSchema = z.object({
  TABLE_NAME: nonEmpty(),
  AWS_REGION: z._default(nonEmpty(), 'us-east-1'),
  /** Local only: DynamoDB Local's URL. */
  DYNAMODB_ENDPOINT: z.optional(url),

  COGNITO_USER_POOL_ID: nonEmpty(),
  COGNITO_CLIENT_ID: nonEmpty(),
  /** The web console's public app client, when the deployment has a console: its tokens are accepted too. */
  COGNITO_WEB_CLIENT_ID: z.optional(nonEmpty()),
  /** Local only: the local issuer (`http://127.0.0.1:<port>/<poolId>`); in AWS it derives from the pool id. */
  COGNITO_ISSUER: z.optional(url),
  /** Local only: the local user pool's API endpoint (for `GetUser`); in AWS the SDK's regional endpoint. */
  COGNITO_ENDPOINT: z.optional(url),

  SCALEKIT_ENVIRONMENT_URL: url,
  SCALEKIT_CLIENT_ID: z.optional(nonEmpty()),
  SCALEKIT_CLIENT_SECRET: z.optional(nonEmpty()),
  /** Secrets Manager secret holding `{"clientId": …, "clientSecret": …}`. */
  SCALEKIT_SECRET_ARN: z.optional(nonEmpty()),

  ANTHROPIC_API_KEY: z.optional(nonEmpty()),
  /** Secrets Manager secret holding the Anthropic API key as a plain string. */
  ANTHROPIC_SECRET_ARN: z.optional(nonEmpty()),
  ANTHROPIC_BASE_URL: z.optional(url),
  ONBEHALF_MODEL_ID: z._default(nonEmpty(), 'claude-sonnet-4-6'),
  ONBEHALF_MAX_TOKENS: positiveInt(4096),
  /** Retries of a failed model call inside one request (the SDK's backoff counts against the time budget). */
  ONBEHALF_MODEL_MAX_RETRIES: z._default(z.coerce.number().check(z.int(), z.gte(0), z.lte(5)), 1),
  /** Timeout of one model call. */
  ONBEHALF_MODEL_TIMEOUT_MS: positiveInt(20_000),

  ONBEHALF_CONNECTIONS: z._default(list, ['asana']),
  ONBEHALF_TOOL_ALLOWLIST: z._default(list, [...DEFAULT_TOOL_ALLOWLIST]),
  ONBEHALF_TOOL_POLICY: z._default(toolPolicy, {}),
  /** Where the browser lands after consent when a request names no `verifyUrl`. */
  ONBEHALF_DEFAULT_VERIFY_URL: url,
  /** The web console's origin: verify URLs under it are allowed (besides loopback). */
  ONBEHALF_WEB_ORIGIN: z.optional(url),
  /**
   * The account policy: which Asana account a user may link. `off` any; `email` only one with the
   * user's Cognito email; `domain` only one with the same email domain.
   */
  ONBEHALF_ACCOUNT_MATCH: z._default(z.enum(['off', 'email', 'domain']), 'off'),

  ONBEHALF_STATE_TTL_SECONDS: positiveInt(600),
  ONBEHALF_LEASE_SECONDS: positiveInt(60),
  /** Time budget of a JSON request's run (`docs/api.md`, "Deadlines"). */
  ONBEHALF_TIME_BUDGET_MS: positiveInt(25_000),
  /** Time budget of a streamed (`text/event-stream`) request's run. */
  ONBEHALF_STREAM_TIME_BUDGET_MS: positiveInt(300_000),
  ONBEHALF_MODEL_CALL_BUDGET: positiveInt(20),
  ONBEHALF_HISTORY_TOKEN_BUDGET: positiveInt(100_000),
  ONBEHALF_TOOL_RESULT_MAX_BYTES: positiveInt(100_000),
  /** How long a conversation is kept after its last write: each item's `ttl` is its write time plus this. */
  ONBEHALF_CONVERSATION_TTL_DAYS: positiveInt(90),
  /** How old a cached secret value may get before it is read from Secrets Manager again (Powertools' own default is 5 s). */
  ONBEHALF_SECRETS_MAX_AGE_SECONDS: positiveInt(300),
  /** Requests per UTC minute per user, over every route (`docs/api.md` "Usage and limits"). */
  ONBEHALF_USER_REQUESTS_PER_MINUTE: positiveInt(60),
  /** Input + output + cache-creation tokens per UTC day per user. */
  ONBEHALF_USER_DAILY_TOKENS: positiveInt(1_000_000),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

/** `docs/api.md`, "Deadlines": what the budgets and the chat function's timeout may be. */
export const DEADLINE_LIMITS = Object.freeze({
  /** A JSON answer arrives within its budget plus 2 s, before API Gateway's 29 s. */
  timeBudgetMaxMs: 26_000,
  /** API Gateway streams for at most 15 minutes; the run leaves room for its last writes. */
  streamTimeBudgetMaxMs: 840_000,
  /** The chat function outlives the streaming budget by at least this much… */
  chatTimeoutMarginSeconds: 30,
  /** …and Lambda allows no more than this. */
  chatTimeoutMaxSeconds: 900,
});

/** The chat function's timeout a streaming budget needs: the budget plus the margin, in whole seconds. */
export function chatTimeoutSecondsFor(streamTimeBudgetMs: number): number {
  return Math.ceil(streamTimeBudgetMs / 1000) + DEADLINE_LIMITS.chatTimeoutMarginSeconds;
}

/** A deadline setting that breaks the rules, named by its environment variable. */
export interface DeadlineProblem {
  readonly setting: 'ONBEHALF_TIME_BUDGET_MS' | 'ONBEHALF_STREAM_TIME_BUDGET_MS' | 'ONBEHALF_CHAT_TIMEOUT_SECONDS';
  readonly message: string;
}

/**
 * The cross-check of `docs/api.md` "Deadlines", run by `npm start` and `cdk synth` before anything
 * starts: the JSON budget fits API Gateway's 29 s, the streaming budget fits its 15 minutes, and
 * the chat function's timeout outlasts the streaming budget by 30 s without passing Lambda's 900 s.
 * Pure; returns every problem (empty when the settings hold).
 */
export function checkDeadlines(settings: {
  readonly timeBudgetMs: number;
  readonly streamTimeBudgetMs: number;
  readonly chatTimeoutSeconds: number;
}): DeadlineProblem[] {
  const problems: DeadlineProblem[] = [];
  const { timeBudgetMaxMs, streamTimeBudgetMaxMs, chatTimeoutMarginSeconds, chatTimeoutMaxSeconds } = DEADLINE_LIMITS;
  if (settings.timeBudgetMs > timeBudgetMaxMs) {
    problems.push({
      setting: 'ONBEHALF_TIME_BUDGET_MS',
      message: `must be at most ${timeBudgetMaxMs} (a JSON answer must arrive before API Gateway's 29 s limit), got ${settings.timeBudgetMs}`,
    });
  }
  if (settings.streamTimeBudgetMs > streamTimeBudgetMaxMs) {
    problems.push({
      setting: 'ONBEHALF_STREAM_TIME_BUDGET_MS',
      message: `must be at most ${streamTimeBudgetMaxMs} (API Gateway streams for at most 15 minutes), got ${settings.streamTimeBudgetMs}`,
    });
  }
  const needed = chatTimeoutSecondsFor(settings.streamTimeBudgetMs);
  if (settings.chatTimeoutSeconds < needed) {
    problems.push({
      setting: 'ONBEHALF_CHAT_TIMEOUT_SECONDS',
      message:
        `must be at least the streaming budget plus ${chatTimeoutMarginSeconds} s (${needed} for ONBEHALF_STREAM_TIME_BUDGET_MS ` +
        `${settings.streamTimeBudgetMs}), got ${settings.chatTimeoutSeconds}`,
    });
  } else if (settings.chatTimeoutSeconds > chatTimeoutMaxSeconds) {
    problems.push({
      setting: 'ONBEHALF_CHAT_TIMEOUT_SECONDS',
      message: `must be at most ${chatTimeoutMaxSeconds} (Lambda's longest timeout), got ${settings.chatTimeoutSeconds}`,
    });
  }
  return problems;
}

/** Thrown at cold start when a setting is missing or malformed; the message names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses settings from an environment; pure, for tests. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = result.data;
  if (!config.SCALEKIT_SECRET_ARN && !(config.SCALEKIT_CLIENT_ID && config.SCALEKIT_CLIENT_SECRET)) {
    throw new ConfigError('invalid configuration: SCALEKIT_SECRET_ARN or SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET are required');
  }
  return Object.freeze(config);
}
