import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { type Config, loadConfig } from '../config';
import type { ConnectionSettings, ConnectionsDeps } from '../core/connections';
import type { Timers } from '../core/ports';
import { DynamoConnectionStore } from './connection-store';
import { createDocumentClient } from './dynamodb';
import type { UsageDeps } from '../core/usage';
import { UpstreamError } from '../core/errors';
import type { ConnectedAccounts } from '../core/ports';
import { isAnthropicPlaceholder, isScalekitPlaceholder } from '../secret-placeholders';
import { ScalekitConnectedAccounts } from './scalekit';
import { readSecret, rebuildOnChange, refreshing, secretName } from './secrets';
import { DynamoUsageStore } from './usage-store';

/**
 * The per-container resources every function's composition root (`functions/<name>/deps.ts`)
 * draws on: settings, the logger, secrets and the SDK clients. Nothing here wires a use case.
 */

/** Caches a promise-returning factory: built once per container, rebuilt after a failure. */
export function once<T>(factory: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= factory().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}

/** The one logger: JSON, correlation keys appended per request; never tokens or payloads. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'onbehalf' });

/** Settings, parsed at cold start: a bad setting fails the first invocation loudly, naming it. */
export const config: () => Config = (() => {
  let parsed: Config | undefined;
  return () => (parsed ??= loadConfig(process.env));
})();

/**
 * Reads `{"clientId": …, "clientSecret": …}` from the Scalekit secret's text. What is wrong is
 * said without any of the text: V8's `JSON.parse` error quotes its input, so neither its message
 * nor the error itself (as a cause) may reach a log.
 */
export function parseScalekitSecret(text: string): { clientId: string; clientSecret: string } {
  const shape = 'the Scalekit secret must be JSON {"clientId": …, "clientSecret": …}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${shape}; it is not valid JSON (${text.length} characters, content not shown)`);
  }
  const fields = typeof parsed === 'object' && parsed !== null ? (parsed as { clientId?: unknown; clientSecret?: unknown }) : {};
  if (typeof fields.clientId !== 'string' || typeof fields.clientSecret !== 'string' || !fields.clientId || !fields.clientSecret) {
    throw new Error(`${shape}; it is JSON without both as non-empty strings`);
  }
  return { clientId: fields.clientId, clientSecret: fields.clientSecret };
}

/**
 * Scalekit's client credentials: from Secrets Manager in AWS (read through the parameters cache
 * on every call, so a stored or rotated value is picked up within `ONBEHALF_SECRETS_MAX_AGE_SECONDS`),
 * from the environment locally. A placeholder is never sent to Scalekit: it answers `503`
 * naming the secret to fill in.
 */
export async function scalekitCredentials(): Promise<{ clientId: string; clientSecret: string }> {
  const settings = config();
  if (settings.SCALEKIT_SECRET_ARN) {
    const credentials = parseScalekitSecret(await readSecret(settings.SCALEKIT_SECRET_ARN, settings.ONBEHALF_SECRETS_MAX_AGE_SECONDS));
    if (isScalekitPlaceholder(credentials.clientId))
      throw notConfigured('scalekit', 'Scalekit credentials are', settings.SCALEKIT_SECRET_ARN);
    return credentials;
  }
  return { clientId: settings.SCALEKIT_CLIENT_ID!, clientSecret: settings.SCALEKIT_CLIENT_SECRET! };
}

/** The Anthropic API key: from Secrets Manager in AWS (as the Scalekit credentials), from the environment locally. */
export async function anthropicApiKey(): Promise<string> {
  const settings = config();
  if (settings.ANTHROPIC_SECRET_ARN) {
    const key = await readSecret(settings.ANTHROPIC_SECRET_ARN, settings.ONBEHALF_SECRETS_MAX_AGE_SECONDS);
    if (isAnthropicPlaceholder(key)) throw notConfigured('anthropic', 'Anthropic API key is', settings.ANTHROPIC_SECRET_ARN);
    return key;
  }
  if (!settings.ANTHROPIC_API_KEY) throw new Error('ANTHROPIC_SECRET_ARN or ANTHROPIC_API_KEY is required');
  return settings.ANTHROPIC_API_KEY;
}

/** A secret still holds the deployment's placeholder: a clear `503` naming it, and a log line for the operator. */
function notConfigured(upstream: 'scalekit' | 'anthropic', what: string, arn: string): UpstreamError {
  logger.error('secret holds its placeholder', { secret: secretName(arn) });
  return new UpstreamError(
    'unavailable',
    upstream,
    `The deployment's ${what} not set yet: an operator must store the value in the secret ${secretName(arn)} (aws secretsmanager put-secret-value).`,
  );
}

export const documentClient = once(async () => createDocumentClient({ region: config().AWS_REGION, endpoint: config().DYNAMODB_ENDPOINT }));

const scalekitClientFor = rebuildOnChange(
  (credentials: { clientId: string; clientSecret: string }) =>
    new ScalekitConnectedAccounts({ environmentUrl: config().SCALEKIT_ENVIRONMENT_URL, ...credentials }),
);

/** The connected-accounts port, following the Scalekit secret: the SDK client is rebuilt when the credentials change. */
export const connectedAccounts = once(
  async (): Promise<ConnectedAccounts> => refreshing(async () => scalekitClientFor(await scalekitCredentials())),
);

/** The real clock, with the timers the chat's deadlines use. */
export const systemClock: Timers = {
  now: () => Date.now(),
  signalAfter: (ms) => AbortSignal.timeout(Math.max(0, ms)),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/** The per-user limits and their counters, for every HTTP function. */
export const usageDeps = once(
  async (): Promise<UsageDeps> => ({
    usage: new DynamoUsageStore(await documentClient(), config().TABLE_NAME),
    clock: systemClock,
    limits: { requestsPerMinute: config().ONBEHALF_USER_REQUESTS_PER_MINUTE, dailyTokens: config().ONBEHALF_USER_DAILY_TOKENS },
  }),
);

/** A link state: 32 random bytes, URL-safe. */
export const newState = () => randomBytes(32).toString('base64url');

/** The settings of the connections use cases, from the environment. */
export function connectionSettings(): ConnectionSettings {
  const settings = config();
  return {
    connections: settings.ONBEHALF_CONNECTIONS,
    stateTtlSeconds: settings.ONBEHALF_STATE_TTL_SECONDS,
    defaultVerifyUrl: settings.ONBEHALF_DEFAULT_VERIFY_URL,
    webOrigin: settings.ONBEHALF_WEB_ORIGIN,
    accountMatch: settings.ONBEHALF_ACCOUNT_MATCH,
  };
}

/** What every use case of connections needs (connect, verify, the status check, and chat's links). */
export async function connectionsDeps(): Promise<ConnectionsDeps> {
  return {
    accounts: await connectedAccounts(),
    store: new DynamoConnectionStore(await documentClient(), config().TABLE_NAME),
    clock: systemClock,
    newState,
    settings: connectionSettings(),
  };
}
