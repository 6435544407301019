import { z } from 'zod';
import { chatTimeoutSecondsFor, checkDeadlines, configSchema, type DeadlineProblem } from '../functions/config';
import * as zm from 'zod/mini';
import { TOOL_KINDS } from '../functions/core/tool-policy';

/**
 * Deployment settings. Each one is read from CDK context (`cdk deploy -c modelId=…`), else from
 * an environment variable, else its default. Settings the functions read themselves are
 * validated with the functions' own schema (`functions/config.ts`), so a value `cdk synth`
 * accepts is one the functions accept at cold start, and their defaults are the same.
 */

/** Where the browser lands after consent when a request names no `verifyUrl`: a loopback page (RFC 8252). */
export const DEFAULT_VERIFY_URL = 'http://127.0.0.1:8976/verify';

/** Lambda allows 4 KiB of environment in total; the settings may use this much of it. */
const FUNCTION_ENV_BUDGET_BYTES = 3_072;

const fn = configSchema.shape;

const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const origin = fn.ONBEHALF_WEB_ORIGIN.check(
  zm.refine((value: string | undefined) => value === undefined || new URL(value).origin === value, {
    message: 'must be an origin (scheme://host[:port]) with no path',
  }),
);

/** Each setting: its context key (the property name), its environment variable and its schema (with the default). */
const definitions = {
  stackPrefix: {
    env: 'ONBEHALF_STACK_PREFIX',
    schema: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,39}$/, 'must start with a letter and hold only letters, digits and hyphens (max 40)')
      .default('Onbehalf'),
  },
  connections: { env: 'ONBEHALF_CONNECTIONS', schema: fn.ONBEHALF_CONNECTIONS },
  toolAllowlist: { env: 'ONBEHALF_TOOL_ALLOWLIST', schema: fn.ONBEHALF_TOOL_ALLOWLIST },
  toolPolicy: { env: 'ONBEHALF_TOOL_POLICY', schema: fn.ONBEHALF_TOOL_POLICY },
  modelId: { env: 'ONBEHALF_MODEL_ID', schema: fn.ONBEHALF_MODEL_ID },
  maxTokens: { env: 'ONBEHALF_MAX_TOKENS', schema: fn.ONBEHALF_MAX_TOKENS },
  modelMaxRetries: { env: 'ONBEHALF_MODEL_MAX_RETRIES', schema: fn.ONBEHALF_MODEL_MAX_RETRIES },
  modelTimeoutMs: { env: 'ONBEHALF_MODEL_TIMEOUT_MS', schema: fn.ONBEHALF_MODEL_TIMEOUT_MS },
  // Required: checked in loadSettings so the message can say where to keep it.
  scalekitEnvironmentUrl: { env: 'SCALEKIT_ENVIRONMENT_URL', schema: zm.optional(fn.SCALEKIT_ENVIRONMENT_URL) },
  defaultVerifyUrl: { env: 'ONBEHALF_DEFAULT_VERIFY_URL', schema: zm._default(fn.ONBEHALF_DEFAULT_VERIFY_URL, DEFAULT_VERIFY_URL) },
  webOrigin: { env: 'ONBEHALF_WEB_ORIGIN', schema: origin },
  accountMatch: { env: 'ONBEHALF_ACCOUNT_MATCH', schema: fn.ONBEHALF_ACCOUNT_MATCH },
  stateTtlSeconds: { env: 'ONBEHALF_STATE_TTL_SECONDS', schema: fn.ONBEHALF_STATE_TTL_SECONDS },
  leaseSeconds: { env: 'ONBEHALF_LEASE_SECONDS', schema: fn.ONBEHALF_LEASE_SECONDS },
  timeBudgetMs: { env: 'ONBEHALF_TIME_BUDGET_MS', schema: fn.ONBEHALF_TIME_BUDGET_MS },
  streamTimeBudgetMs: { env: 'ONBEHALF_STREAM_TIME_BUDGET_MS', schema: fn.ONBEHALF_STREAM_TIME_BUDGET_MS },
  /** The chat function's timeout; by default the streaming budget plus 30 s (`docs/api.md`, "Deadlines"). */
  chatTimeoutSeconds: { env: 'ONBEHALF_CHAT_TIMEOUT_SECONDS', schema: z.coerce.number().int().positive().optional() },
  modelCallBudget: { env: 'ONBEHALF_MODEL_CALL_BUDGET', schema: fn.ONBEHALF_MODEL_CALL_BUDGET },
  historyTokenBudget: { env: 'ONBEHALF_HISTORY_TOKEN_BUDGET', schema: fn.ONBEHALF_HISTORY_TOKEN_BUDGET },
  toolResultMaxBytes: { env: 'ONBEHALF_TOOL_RESULT_MAX_BYTES', schema: fn.ONBEHALF_TOOL_RESULT_MAX_BYTES },
  conversationTtlDays: { env: 'ONBEHALF_CONVERSATION_TTL_DAYS', schema: fn.ONBEHALF_CONVERSATION_TTL_DAYS },
  secretsMaxAgeSeconds: { env: 'ONBEHALF_SECRETS_MAX_AGE_SECONDS', schema: fn.ONBEHALF_SECRETS_MAX_AGE_SECONDS },
  userRequestsPerMinute: { env: 'ONBEHALF_USER_REQUESTS_PER_MINUTE', schema: fn.ONBEHALF_USER_REQUESTS_PER_MINUTE },
  userDailyTokens: { env: 'ONBEHALF_USER_DAILY_TOKENS', schema: fn.ONBEHALF_USER_DAILY_TOKENS },
  statusSchedule: {
    env: 'ONBEHALF_STATUS_SCHEDULE',
    schema: z
      .string()
      .regex(
        /^(rate\(([2-9]|[1-9]\d+) (minutes|hours|days)\)|rate\(1 (minute|hour|day)\)|cron\(\S+( \S+){5}\))$/,
        'must be an EventBridge schedule expression: rate(15 minutes) or cron(…) with six fields',
      )
      .default('rate(15 minutes)'),
  },
  throttleRateLimit: { env: 'ONBEHALF_THROTTLE_RATE_LIMIT', schema: z.coerce.number().positive().default(10) },
  throttleBurstLimit: { env: 'ONBEHALF_THROTTLE_BURST_LIMIT', schema: z.coerce.number().int().positive().default(20) },
  logRetentionDays: {
    env: 'ONBEHALF_LOG_RETENTION_DAYS',
    schema: z.coerce
      .number()
      .refine((value) => (LOG_RETENTION_DAYS as readonly number[]).includes(value), {
        message: `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
  },
  alarmEmail: {
    env: 'ONBEHALF_ALARM_EMAIL',
    schema: z.email('must be an e-mail address').optional(),
  },
  latencyAlarmMs: { env: 'ONBEHALF_LATENCY_ALARM_MS', schema: z.coerce.number().int().positive().default(5_000) },
  deadlineStopsAlarm: { env: 'ONBEHALF_DEADLINE_STOPS_ALARM', schema: z.coerce.number().int().positive().default(5) },
} as const;

type Definitions = typeof definitions;
export type SettingKey = keyof Definitions;

/** The validated deployment settings. */
export type Settings = {
  readonly [K in Exclude<SettingKey, 'scalekitEnvironmentUrl' | 'chatTimeoutSeconds'>]: z.output<Definitions[K]['schema']>;
} & {
  /** Required: synthesis fails without it. */
  readonly scalekitEnvironmentUrl: string;
  /** The chat function's timeout in seconds: the setting, or the streaming budget plus 30 s. */
  readonly chatTimeoutSeconds: number;
};

/** Context key → environment variable, for documentation and error messages. */
export const settingSources: Readonly<Record<SettingKey, string>> = Object.fromEntries(
  Object.entries(definitions).map(([key, definition]) => [key, definition.env]),
) as Record<SettingKey, string>;

/** A deployment setting is malformed; the message names the context key and environment variable. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Where settings come from: CDK context (looked up by key) and an environment. */
export interface SettingsSource {
  readonly context: (key: string) => unknown;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Context can carry JSON values (cdk.json, `-c` gives strings): bring them to the string form the schemas read. */
function asRawString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (Array.isArray(value)) return value.map(String).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function describeSetting(key: SettingKey, origin: 'context' | 'env' | 'default'): string {
  const env = definitions[key].env;
  if (origin === 'context') return `setting "${key}" (from context key "${key}")`;
  if (origin === 'env') return `setting "${key}" (from environment variable ${env})`;
  return `setting "${key}" (context key "${key}" or environment variable ${env})`;
}

/**
 * Reads and validates every deployment setting: context, then environment, then default.
 * Throws a {@link SettingsError} listing every bad setting by name.
 */
export function loadSettings(source: SettingsSource): Settings {
  const values: Record<string, unknown> = {};
  const origins: Record<string, 'context' | 'env' | 'default'> = {};
  const problems: string[] = [];

  for (const key of Object.keys(definitions) as SettingKey[]) {
    const definition = definitions[key];
    const fromContext = asRawString(source.context(key));
    const fromEnv = asRawString(source.env[definition.env]);
    const origin = fromContext !== undefined ? 'context' : fromEnv !== undefined ? 'env' : 'default';
    origins[key] = origin;
    const result = z.safeParse(definition.schema, fromContext ?? fromEnv);
    if (result.success) values[key] = result.data;
    else problems.push(`${describeSetting(key, origin)}: ${result.error.issues.map((issue) => issue.message).join('; ')}`);
  }
  if (problems.length > 0) throw new SettingsError(`invalid deployment settings:\n  ${problems.join('\n  ')}`);

  const settings = values as Omit<Settings, 'chatTimeoutSeconds'> & {
    chatTimeoutSeconds: number | undefined;
  };
  const chatTimeoutSeconds = settings.chatTimeoutSeconds ?? chatTimeoutSecondsFor(settings.streamTimeBudgetMs);
  const keyOf: Record<DeadlineProblem['setting'], SettingKey> = {
    ONBEHALF_TIME_BUDGET_MS: 'timeBudgetMs',
    ONBEHALF_STREAM_TIME_BUDGET_MS: 'streamTimeBudgetMs',
    ONBEHALF_CHAT_TIMEOUT_SECONDS: 'chatTimeoutSeconds',
  };
  for (const problem of checkDeadlines({ ...settings, chatTimeoutSeconds })) {
    const key = keyOf[problem.setting];
    problems.push(`${describeSetting(key, origins[key] ?? 'default')}: ${problem.message}`);
  }
  const check = (key: SettingKey, ok: boolean, message: string) => {
    if (!ok) problems.push(`${describeSetting(key, origins[key] ?? 'default')}: ${message}`);
  };
  check(
    'scalekitEnvironmentUrl',
    settings.scalekitEnvironmentUrl !== undefined,
    'is required: your Scalekit environment URL (https://<environment>.scalekit.dev or .cloud). ' +
      'Keep it in cdk.context.json ("scalekitEnvironmentUrl": "https://…") so every deploy uses it, whatever the shell.',
  );
  check('connections', settings.connections.length > 0, 'must name at least one connection');
  check('toolAllowlist', settings.toolAllowlist.length > 0, 'must allow at least one tool');
  const unknownTools = Object.keys(settings.toolPolicy).filter(
    (key) => !settings.toolAllowlist.includes(key) && !(TOOL_KINDS as readonly string[]).includes(key),
  );
  check(
    'toolPolicy',
    unknownTools.length === 0,
    `names tools that are not in toolAllowlist (keys are tool names or ${TOOL_KINDS.join(', ')}): ${unknownTools.join(', ')}`,
  );
  check(
    'defaultVerifyUrl',
    isSafeVerifyUrl(settings.defaultVerifyUrl),
    'must be an https URL without credentials, or a loopback URL (http://127.0.0.1:<port>/… or http://localhost:<port>/…)',
  );
  check('throttleBurstLimit', settings.throttleBurstLimit >= settings.throttleRateLimit, 'must be at least throttleRateLimit');
  if (problems.length > 0) throw new SettingsError(`invalid deployment settings:\n  ${problems.join('\n  ')}`);

  const result: Settings = Object.freeze({ ...settings, chatTimeoutSeconds });
  const envBytes = Object.entries(functionEnvironment(result)).reduce((sum, [name, value]) => sum + name.length + value.length, 0);
  if (envBytes > FUNCTION_ENV_BUDGET_BYTES) {
    throw new SettingsError(
      `invalid deployment settings:\n  the function settings take ${envBytes} bytes of Lambda's 4 KiB environment ` +
        `(at most ${FUNCTION_ENV_BUDGET_BYTES}); shorten ${describeSetting('toolAllowlist', origins.toolAllowlist ?? 'default')} or ${describeSetting('toolPolicy', origins.toolPolicy ?? 'default')}`,
    );
  }
  return result;
}

/** The browser lands on the default verify URL with the link's state: HTTPS, or a loopback page (RFC 8252). */
function isSafeVerifyUrl(value: string): boolean {
  const url = new URL(value);
  if (url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost');
}

type FunctionEnvName = keyof typeof configSchema.shape;

/**
 * The environment every function gets from the settings, under the names `functions/config.ts`
 * reads. (Table, user pool and secret ARNs are added by the grants that also give access.)
 */
export function functionEnvironment(settings: Settings): Readonly<Partial<Record<FunctionEnvName, string>>> {
  const env: Partial<Record<FunctionEnvName, string>> = {
    SCALEKIT_ENVIRONMENT_URL: settings.scalekitEnvironmentUrl,
    ONBEHALF_CONNECTIONS: settings.connections.join(','),
    ONBEHALF_TOOL_ALLOWLIST: settings.toolAllowlist.join(','),
    ONBEHALF_TOOL_POLICY: JSON.stringify(settings.toolPolicy),
    ONBEHALF_MODEL_ID: settings.modelId,
    ONBEHALF_MAX_TOKENS: String(settings.maxTokens),
    ONBEHALF_MODEL_MAX_RETRIES: String(settings.modelMaxRetries),
    ONBEHALF_MODEL_TIMEOUT_MS: String(settings.modelTimeoutMs),
    ONBEHALF_DEFAULT_VERIFY_URL: settings.defaultVerifyUrl,
    ONBEHALF_STATE_TTL_SECONDS: String(settings.stateTtlSeconds),
    ONBEHALF_LEASE_SECONDS: String(settings.leaseSeconds),
    ONBEHALF_TIME_BUDGET_MS: String(settings.timeBudgetMs),
    ONBEHALF_STREAM_TIME_BUDGET_MS: String(settings.streamTimeBudgetMs),
    ONBEHALF_MODEL_CALL_BUDGET: String(settings.modelCallBudget),
    ONBEHALF_HISTORY_TOKEN_BUDGET: String(settings.historyTokenBudget),
    ONBEHALF_TOOL_RESULT_MAX_BYTES: String(settings.toolResultMaxBytes),
    ONBEHALF_CONVERSATION_TTL_DAYS: String(settings.conversationTtlDays),
    ONBEHALF_ACCOUNT_MATCH: settings.accountMatch,
    ONBEHALF_SECRETS_MAX_AGE_SECONDS: String(settings.secretsMaxAgeSeconds),
    ONBEHALF_USER_REQUESTS_PER_MINUTE: String(settings.userRequestsPerMinute),
    ONBEHALF_USER_DAILY_TOKENS: String(settings.userDailyTokens),
  };
  if (settings.webOrigin !== undefined) env.ONBEHALF_WEB_ORIGIN = settings.webOrigin;
  return Object.freeze(env);
}
