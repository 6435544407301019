import { z } from 'zod';
import catalog from './core/asana-tools.json';

/** Tools the product allows by default: every `read` and `write` tool of the catalog, never a `delete`. */
export const DEFAULT_TOOL_ALLOWLIST: readonly string[] = catalog
  .filter((tool) => tool.kind === 'read' || tool.kind === 'write')
  .map((tool) => tool.name)
  .sort();

const list = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const toolPolicy = z
  .string()
  .transform((value, ctx) => {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string(), z.enum(['allow', 'confirm', 'deny'])));

const url = z.url({ protocol: /^https?$/ }).transform((value) => value.replace(/\/+$/, ''));

/**
 * Every setting of the functions, read from the environment once at cold start. Secrets come
 * either as values (local stack) or as Secrets Manager ARNs (deployment); never both needed.
 */
export const configSchema = z.object({
  TABLE_NAME: z.string().min(1),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Local only: DynamoDB Local's URL. */
  DYNAMODB_ENDPOINT: url.optional(),

  COGNITO_USER_POOL_ID: z.string().min(1),
  COGNITO_CLIENT_ID: z.string().min(1),
  /** Local only: the local issuer (`http://127.0.0.1:<port>/<poolId>`); in AWS it derives from the pool id. */
  COGNITO_ISSUER: url.optional(),

  SCALEKIT_ENVIRONMENT_URL: url,
  SCALEKIT_CLIENT_ID: z.string().min(1).optional(),
  SCALEKIT_CLIENT_SECRET: z.string().min(1).optional(),
  /** Secrets Manager secret holding `{"clientId": …, "clientSecret": …}`. */
  SCALEKIT_SECRET_ARN: z.string().min(1).optional(),

  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  /** Secrets Manager secret holding the Anthropic API key as a plain string. */
  ANTHROPIC_SECRET_ARN: z.string().min(1).optional(),
  ANTHROPIC_BASE_URL: url.optional(),
  ONBEHALF_MODEL_ID: z.string().min(1).default('claude-sonnet-4-6'),
  ONBEHALF_MAX_TOKENS: positiveInt(4096),
  /** Retries of a failed model call inside one request (the SDK's backoff counts against the time budget). */
  ONBEHALF_MODEL_MAX_RETRIES: z.coerce.number().int().min(0).max(5).default(1),
  /** Timeout of one model call. */
  ONBEHALF_MODEL_TIMEOUT_MS: positiveInt(20_000),

  ONBEHALF_CONNECTIONS: list.default(['asana']),
  ONBEHALF_TOOL_ALLOWLIST: list.default([...DEFAULT_TOOL_ALLOWLIST]),
  ONBEHALF_TOOL_POLICY: toolPolicy.default({}),
  /** Where the browser lands after consent when a request names no `verifyUrl`. */
  ONBEHALF_DEFAULT_VERIFY_URL: url,
  /** The web console's origin: verify URLs under it are allowed (besides loopback). */
  ONBEHALF_WEB_ORIGIN: url.optional(),

  ONBEHALF_STATE_TTL_SECONDS: positiveInt(600),
  ONBEHALF_LEASE_SECONDS: positiveInt(60),
  ONBEHALF_TIME_BUDGET_MS: positiveInt(25_000),
  ONBEHALF_MODEL_CALL_BUDGET: positiveInt(20),
  ONBEHALF_HISTORY_TOKEN_BUDGET: positiveInt(100_000),
  ONBEHALF_TOOL_RESULT_MAX_BYTES: positiveInt(100_000),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

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
