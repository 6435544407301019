import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { chatTimeoutSecondsFor, checkDeadlines, configSchema } from '../../functions/config';
import { LOCAL_TABLE_NAME } from '../table';
import { startAsana } from './asana/server';
import { type LocalCognito, startCognito } from './cognito';
import { CONSOLE_SCOPE, startConsole } from './console';
import { freePort, LOCAL_AWS_CREDENTIALS, LOCAL_REGION, startDynamoDb } from './dynamodb';
import { type ProxyHandler, type StreamingProxyHandler, startGateway } from './gateway';
import { startModel } from './model/server';
import { startScalekit } from './scalekit/server';
import type { LocalService } from './service';
import { readState, writeState } from './service';
import type { World } from './world';

/** `ONBEHALF_CONNECTIONS` as the functions read it (comma-separated; default `asana`). */
export function connectionNamesOf(env: Record<string, string | undefined>): string[] {
  const names = (env.ONBEHALF_CONNECTIONS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return names.length > 0 ? names : ['asana'];
}

/** The facts `npm start` prints and writes to `.onbehalf/stack.json` (`docs/api.md`). */
export interface StackFacts {
  apiUrl: string;
  cognito: {
    endpoint: string;
    userPoolId: string;
    clientId: string;
    region: string;
    /** Base URL of the managed login (`/oauth2/authorize`, `/oauth2/token`, `/logout`, OpenID configuration). */
    domain: string;
    /** The web console's public app client (authorization code + PKCE, redirect URIs under `consoleUrl`). */
    webClientId: string;
  };
  scalekit: { environmentUrl: string; clientId: string; clientSecret: string };
  asanaUrl: string;
  modelUrl: string;
  dynamodbUrl: string;
  tableName: string;
  /** The web console, on its own origin. */
  consoleUrl: string;
  users: { username: string; password: string; email: string }[];
}

/** What a client needs of a local pool to log in: its `stack.json` entry. */
export function cognitoFacts(cognito: LocalCognito): StackFacts['cognito'] {
  return {
    endpoint: cognito.url,
    userPoolId: cognito.userPoolId,
    clientId: cognito.clientId,
    region: cognito.region,
    domain: cognito.domain,
    webClientId: cognito.webClientId,
  };
}

export interface StackOptions {
  world: World;
  /** The gateway's port (default 3000; 0 = ephemeral). Every other service takes an ephemeral port but the console. */
  port?: number;
  /** The web console's port (default: the gateway's port + 1; ephemeral when the gateway's is). */
  consolePort?: number;
  /** Where state is kept across restarts; `undefined` keeps nothing (`--memory`). */
  dataDir?: string;
  /** The environment to read settings from (default `process.env`). */
  env?: Record<string, string | undefined>;
}

export interface LocalStack {
  readonly facts: StackFacts;
  readonly cognito: LocalCognito;
  /** The environment the functions run with (what a deployment puts in their configuration). */
  readonly functionEnv: Record<string, string>;
  close(): Promise<void>;
}

const seconds = (env: Record<string, string | undefined>, name: string): number | undefined => {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number of seconds`);
  return value;
};

/** A setting that stops `npm start` before anything starts; the message names it. */
export class LocalSettingsError extends Error {
  override name = 'LocalSettingsError';
}

/**
 * The deadline settings cross-checked as `cdk synth` does (`docs/api.md`, "Deadlines"), and the chat
 * function's timeout they give (the local gateway hands it to the function as Lambda would).
 */
export function localDeadlines(env: Record<string, string | undefined>): { chatTimeoutMs: number } {
  const read = <T>(name: string, schema: z.ZodMiniType<T>): T => {
    const raw = env[name];
    const result = z.safeParse(schema, raw === '' ? undefined : raw);
    if (!result.success) throw new LocalSettingsError(`${name}: must be a positive whole number, got ${JSON.stringify(raw)}`);
    return result.data;
  };
  const timeBudgetMs = read('ONBEHALF_TIME_BUDGET_MS', configSchema.shape.ONBEHALF_TIME_BUDGET_MS);
  const streamTimeBudgetMs = read('ONBEHALF_STREAM_TIME_BUDGET_MS', configSchema.shape.ONBEHALF_STREAM_TIME_BUDGET_MS);
  const chatTimeoutSeconds =
    read('ONBEHALF_CHAT_TIMEOUT_SECONDS', z.optional(z.coerce.number().check(z.int(), z.positive()))) ??
    chatTimeoutSecondsFor(streamTimeBudgetMs);
  const problems = checkDeadlines({ timeBudgetMs, streamTimeBudgetMs, chatTimeoutSeconds });
  if (problems.length > 0) throw new LocalSettingsError(problems.map((problem) => `${problem.setting} ${problem.message}`).join('; '));
  return { chatTimeoutMs: chatTimeoutSeconds * 1000 };
}

/**
 * Boots the whole one-machine stack: DynamoDB Local, local Cognito, the Asana, Scalekit and
 * Claude stand-ins, and the API gateway serving the real handlers in-process. Services start
 * in dependency order; on any failure everything already started is stopped again.
 */
export async function startStack(options: StackOptions): Promise<LocalStack> {
  const env = options.env ?? process.env;
  // Before anything starts: a setting that breaks the deadline rules stops the start, naming it.
  const { chatTimeoutMs } = localDeadlines(env);
  const data = options.dataDir;
  const stateFile = (name: string) => (data ? join(data, `${name}.json`) : undefined);
  const started: LocalService[] = [];
  const track = <T extends LocalService>(service: T): T => {
    started.push(service);
    return service;
  };
  const closeAll = async () => {
    for (const service of started.reverse()) await service.close().catch(() => undefined);
  };

  try {
    const secrets = readState<{ scalekitSecret: string; asanaSecret: string }>(stateFile('secrets')) ?? {
      scalekitSecret: `sks_local_${randomBytes(16).toString('hex')}`,
      asanaSecret: randomBytes(16).toString('hex'),
    };
    writeState(stateFile('secrets'), secrets);
    const asanaClient = { clientId: 'onbehalf-scalekit-local', clientSecret: secrets.asanaSecret };
    const scalekitClientId = 'skc_local';

    // The console first: its origin is the pool's registered callback origin and the API's web origin.
    const requestedPort = options.port ?? 3000;
    const webConsole = track(await startConsole({ port: options.consolePort ?? (requestedPort === 0 ? 0 : requestedPort + 1) }));
    const consoleUrl = webConsole.url;

    const [dynamodb, cognito, asana] = await Promise.all([
      startDynamoDb({ tableName: LOCAL_TABLE_NAME, dataDir: data ? join(data, 'dynamodb') : undefined }).then(track),
      startCognito({
        users: options.world.people,
        stateFile: stateFile('cognito'),
        accessTokenTtlSeconds: seconds(env, 'ONBEHALF_COGNITO_TOKEN_TTL_SECONDS'),
        consoleUrl: () => consoleUrl,
      }).then(track),
      startAsana({
        world: options.world,
        stateFile: stateFile('asana'),
        accessTokenTtlSeconds: seconds(env, 'ONBEHALF_ASANA_TOKEN_TTL_SECONDS'),
        oauthClients: [asanaClient],
      }).then(track),
    ]);

    const useRemoteScalekit = env.ONBEHALF_SCALEKIT === 'remote';
    const useAnthropic = env.ONBEHALF_MODEL === 'anthropic';
    if (useAnthropic && !env.ANTHROPIC_API_KEY) throw new Error('ONBEHALF_MODEL=anthropic needs ANTHROPIC_API_KEY');
    if (useRemoteScalekit) {
      for (const name of ['SCALEKIT_ENVIRONMENT_URL', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET']) {
        if (!env[name]) throw new Error(`ONBEHALF_SCALEKIT=remote needs ${name}`);
      }
    }

    const scalekit = useRemoteScalekit
      ? {
          url: env.SCALEKIT_ENVIRONMENT_URL!.replace(/\/+$/, ''),
          clientId: env.SCALEKIT_CLIENT_ID!,
          clientSecret: env.SCALEKIT_CLIENT_SECRET!,
        }
      : {
          ...track(
            await startScalekit({
              asanaUrl: asana.url,
              asanaClient,
              clientId: scalekitClientId,
              clientSecret: secrets.scalekitSecret,
              stateFile: stateFile('scalekit'),
              linkTtlSeconds: seconds(env, 'ONBEHALF_LINK_TTL_SECONDS'),
              // Every connection the deployment is configured with, served as an Asana connection of that name.
              connectionNames: connectionNamesOf(env),
            }),
          ),
          clientId: scalekitClientId,
          clientSecret: secrets.scalekitSecret,
        };
    const model = useAnthropic
      ? { url: (env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com').replace(/\/+$/, '') }
      : track(await startModel({ stateFile: stateFile('model') }));

    const port = requestedPort === 0 ? await freePort() : requestedPort;
    const functionEnv: Record<string, string> = {
      TABLE_NAME: LOCAL_TABLE_NAME,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_AWS_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_AWS_CREDENTIALS.secretAccessKey,
      DYNAMODB_ENDPOINT: dynamodb.url,
      COGNITO_USER_POOL_ID: cognito.userPoolId,
      COGNITO_CLIENT_ID: cognito.clientId,
      COGNITO_WEB_CLIENT_ID: cognito.webClientId,
      COGNITO_ISSUER: cognito.issuer,
      COGNITO_ENDPOINT: cognito.url,
      SCALEKIT_ENVIRONMENT_URL: scalekit.url,
      SCALEKIT_CLIENT_ID: scalekit.clientId,
      SCALEKIT_CLIENT_SECRET: scalekit.clientSecret,
      ANTHROPIC_API_KEY: useAnthropic ? env.ANTHROPIC_API_KEY! : 'local-stand-in-key',
      ANTHROPIC_BASE_URL: model.url,
      // Locally the console is the web origin, and its verify page where consent lands by default.
      ONBEHALF_WEB_ORIGIN: env.ONBEHALF_WEB_ORIGIN ?? consoleUrl,
      ONBEHALF_DEFAULT_VERIFY_URL: env.ONBEHALF_DEFAULT_VERIFY_URL ?? `${consoleUrl}/connections/verify`,
      POWERTOOLS_SERVICE_NAME: 'onbehalf',
      POWERTOOLS_METRICS_NAMESPACE: 'onbehalf',
      POWERTOOLS_LOG_LEVEL: env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    };
    // Every ONBEHALF_* setting of the caller's environment reaches the functions, as a
    // deployment's settings would.
    for (const [name, value] of Object.entries(env)) {
      if (name.startsWith('ONBEHALF_') && value !== undefined && !(name in functionEnv)) functionEnv[name] = value;
    }
    Object.assign(process.env, functionEnv);

    const handlers = await loadHandlers();
    const gateway = track(
      await startGateway({
        port,
        handlers: handlers.routes,
        functionTimeoutMs: { connect: 30_000, verify: 30_000, chat: chatTimeoutMs },
        issuer: cognito.issuer,
        scheduled: { 'connection-status': handlers.connectionStatus },
        // The same console origin the functions answer CORS for (`ONBEHALF_WEB_ORIGIN`).
        webOrigin: functionEnv.ONBEHALF_WEB_ORIGIN?.replace(/\/+$/, ''),
      }),
    );

    const facts: StackFacts = {
      apiUrl: gateway.url,
      cognito: cognitoFacts(cognito),
      scalekit: { environmentUrl: scalekit.url, clientId: scalekit.clientId, clientSecret: scalekit.clientSecret },
      asanaUrl: asana.url,
      modelUrl: model.url,
      dynamodbUrl: dynamodb.url,
      tableName: LOCAL_TABLE_NAME,
      consoleUrl,
      users: options.world.people.map(({ username, password, email }) => ({ username, password, email })),
    };
    webConsole.configure({
      apiUrl: gateway.url,
      auth: { issuer: cognito.issuer, domain: cognito.domain, clientId: cognito.webClientId, scope: CONSOLE_SCOPE },
    });
    return { facts, cognito, functionEnv, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** Imports the real handler modules (after the environment is set, as a Lambda cold start would). */
async function loadHandlers(): Promise<{
  routes: Record<'connect' | 'verify' | 'chat', ProxyHandler | StreamingProxyHandler>;
  connectionStatus: () => Promise<unknown>;
}> {
  const [connect, verify, chat, status] = await Promise.all([
    import('../../functions/connect/handler'),
    import('../../functions/verify/handler'),
    import('../../functions/chat/handler'),
    import('../../functions/connection-status/handler'),
  ]);
  return {
    routes: { connect: connect.handler, verify: verify.handler, chat: chat.handler },
    connectionStatus: () => status.handler(),
  };
}
