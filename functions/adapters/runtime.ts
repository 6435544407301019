import { randomBytes } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { type Config, loadConfig } from '../config';
import type { ConnectionSettings } from '../core/connections';
import type { Timers } from '../core/ports';
import { createDocumentClient } from './dynamodb';
import type { UsageDeps } from '../core/usage';
import { ScalekitConnectedAccounts } from './scalekit';
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

/** Reads a secret through Powertools Parameters (cached for the container's life). */
async function secretValue(arn: string): Promise<string> {
  const value = await getSecret(arn, { maxAge: 3600 });
  if (typeof value !== 'string' || value === '') throw new Error(`secret ${arn} has no string value`);
  return value;
}

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

/** Scalekit's client credentials: from Secrets Manager in AWS, from the environment locally. */
export const scalekitCredentials = once(async () => {
  const settings = config();
  if (settings.SCALEKIT_SECRET_ARN) {
    return parseScalekitSecret(await secretValue(settings.SCALEKIT_SECRET_ARN));
  }
  return { clientId: settings.SCALEKIT_CLIENT_ID!, clientSecret: settings.SCALEKIT_CLIENT_SECRET! };
});

/** The Anthropic API key: from Secrets Manager in AWS, from the environment locally. */
export const anthropicApiKey = once(async () => {
  const settings = config();
  if (settings.ANTHROPIC_SECRET_ARN) return secretValue(settings.ANTHROPIC_SECRET_ARN);
  if (!settings.ANTHROPIC_API_KEY) throw new Error('ANTHROPIC_SECRET_ARN or ANTHROPIC_API_KEY is required');
  return settings.ANTHROPIC_API_KEY;
});

export const documentClient = once(async () => createDocumentClient({ region: config().AWS_REGION, endpoint: config().DYNAMODB_ENDPOINT }));

export const connectedAccounts = once(async () => {
  const credentials = await scalekitCredentials();
  return new ScalekitConnectedAccounts({ environmentUrl: config().SCALEKIT_ENVIRONMENT_URL, ...credentials });
});

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
