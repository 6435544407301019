import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANTHROPIC_PLACEHOLDER, SCALEKIT_PLACEHOLDER_CLIENT_ID } from '../../functions/secret-placeholders';

/**
 * Secrets through the real AWS SDK and Powertools Parameters against a local stand-in of Secrets
 * Manager's `GetSecretValue` (its JSON protocol), and a model stand-in that records the key of
 * every call it receives. Nothing else of the stack is needed.
 */
const REGION = 'eu-west-1';
const arnOf = (name: string) => `arn:aws:secretsmanager:${REGION}:123456789012:secret:${name}-AbCdEf`;
const ANTHROPIC_ARN = arnOf('onbehalf-anthropic');
const SCALEKIT_ARN = arnOf('onbehalf-scalekit');
const MAX_AGE_SECONDS = 1;

const stored = new Map<string, string>();
let secretReads = 0;
const modelKeys: string[] = [];
let scalekitRequests = 0;
const servers: Server[] = [];

const readBody = async (req: IncomingMessage) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
};

/** Secrets Manager's `GetSecretValue`, as the SDK speaks it (`X-Amz-Target`, `application/x-amz-json-1.1`). */
async function secretsManager(req: IncomingMessage, res: ServerResponse) {
  const target = req.headers['x-amz-target'];
  const { SecretId } = JSON.parse(await readBody(req)) as { SecretId: string };
  res.setHeader('content-type', 'application/x-amz-json-1.1');
  const value = stored.get(SecretId);
  if (target !== 'secretsmanager.GetSecretValue' || value === undefined) {
    res.statusCode = 400;
    res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }));
    return;
  }
  secretReads++;
  res.end(
    JSON.stringify({
      ARN: SecretId,
      Name: SecretId.split(':')[6],
      SecretString: value,
      VersionId: `v${secretReads}`,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: Date.now() / 1000,
    }),
  );
}

/** A Messages API that answers every call and records the key it was sent with. */
async function model(req: IncomingMessage, res: ServerResponse) {
  await readBody(req);
  modelKeys.push(String(req.headers['x-api-key'] ?? req.headers.authorization ?? ''));
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-6',
      content: [{ type: 'text', text: 'ok' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 1, output_tokens: 1 },
    }),
  );
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<string> {
  const server = createServer((req, res) => void handler(req, res));
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const ask = { system: 's', tools: [], messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }] }] };

let runtime: typeof import('../../functions/adapters/runtime');
let chatDeps: typeof import('../../functions/chat/deps')['chatDeps'];
let errorResponse: typeof import('../../functions/http/response')['errorResponse'];

beforeAll(async () => {
  const secretsUrl = await serve(secretsManager);
  const modelUrl = await serve(model);
  const scalekitUrl = await serve(async (_req, res) => {
    scalekitRequests++;
    res.statusCode = 500;
    res.end();
  });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsUrl,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    TABLE_NAME: 'unused',
    DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
    COGNITO_USER_POOL_ID: `${REGION}_unused`,
    COGNITO_CLIENT_ID: 'unused',
    SCALEKIT_ENVIRONMENT_URL: scalekitUrl,
    SCALEKIT_SECRET_ARN: SCALEKIT_ARN,
    ANTHROPIC_SECRET_ARN: ANTHROPIC_ARN,
    ANTHROPIC_BASE_URL: modelUrl,
    ONBEHALF_MODEL_MAX_RETRIES: '0',
    ONBEHALF_SECRETS_MAX_AGE_SECONDS: String(MAX_AGE_SECONDS),
    ONBEHALF_DEFAULT_VERIFY_URL: 'http://127.0.0.1:8976/verify',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });
  for (const name of ['ANTHROPIC_API_KEY', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET']) delete process.env[name];
  runtime = await import('../../functions/adapters/runtime');
  ({ chatDeps } = await import('../../functions/chat/deps'));
  ({ errorResponse } = await import('../../functions/http/response'));
});
afterAll(async () => {
  for (const server of servers) await new Promise<void>((done) => server.close(() => done()));
});

describe('secrets from Secrets Manager', () => {
  it('answers 503 naming the secret while it holds the placeholder, and never sends the placeholder', async () => {
    // Prepare: a fresh deployment's placeholders.
    stored.set(ANTHROPIC_ARN, ANTHROPIC_PLACEHOLDER);
    stored.set(SCALEKIT_ARN, JSON.stringify({ clientId: SCALEKIT_PLACEHOLDER_CLIENT_ID, clientSecret: 'generated-Xy12' }));
    const deps = await chatDeps();
    // Act
    const modelError = await deps.model.complete(ask).catch((error: unknown) => error);
    const toolsError = await deps.accounts.listTools('someone', ['asana']).catch((error: unknown) => error);
    // Assess
    for (const [error, name] of [
      [modelError, 'onbehalf-anthropic-AbCdEf'],
      [toolsError, 'onbehalf-scalekit-AbCdEf'],
    ] as const) {
      const response = errorResponse(error);
      expect(response.statusCode).toBe(503);
      const body = JSON.parse(response.body) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('upstream_unavailable');
      expect(body.error.message).toContain(`secret ${name}`);
      expect(body.error.message).not.toContain('123456789012');
    }
    expect(modelKeys).toEqual([]);
    expect(scalekitRequests).toBe(0);
  });

  it('picks up a stored value after the cache age without a restart, and rebuilds the client when the key changes', async () => {
    // Prepare
    const deps = await chatDeps();
    stored.set(ANTHROPIC_ARN, 'sk-ant-first');
    // Act: within the cache age the placeholder is still what the container knows.
    const cached = await deps.model.complete(ask).catch((error: unknown) => error);
    await sleep(MAX_AGE_SECONDS * 1000 + 200);
    await deps.model.complete(ask);
    await deps.model.complete(ask);
    stored.set(ANTHROPIC_ARN, 'sk-ant-rotated');
    await sleep(MAX_AGE_SECONDS * 1000 + 200);
    await deps.model.complete(ask);
    // Assess
    expect(errorResponse(cached).statusCode).toBe(503);
    expect(modelKeys.map((key) => key.replace(/^Bearer /, ''))).toEqual(['sk-ant-first', 'sk-ant-first', 'sk-ant-rotated']);
  });

  it('reads through the cache: calls within the age make no request to Secrets Manager', async () => {
    // Prepare
    stored.set(ANTHROPIC_ARN, 'sk-ant-steady');
    await sleep(MAX_AGE_SECONDS * 1000 + 200);
    await runtime.anthropicApiKey();
    const before = secretReads;
    // Act
    const keys = [await runtime.anthropicApiKey(), await runtime.anthropicApiKey(), await runtime.anthropicApiKey()];
    // Assess
    expect(keys).toEqual(['sk-ant-steady', 'sk-ant-steady', 'sk-ant-steady']);
    expect(secretReads).toBe(before);
  });
});
