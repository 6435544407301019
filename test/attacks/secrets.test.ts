import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type LocalService, readBody, sendJson } from '../../infra/local/service';
import { api, login } from '../support/auth';
import { ownStack } from '../support/own-stack';
import { captureOutput } from '../support/output';

/**
 * An operator pastes the wrong thing into the Scalekit secret (the bare client secret instead of
 * the JSON). The functions must fail without writing any of it to a log or an answer: V8's
 * `JSON.parse` error quotes its input. The secret is served by a Secrets Manager stand-in that
 * the real SDK (through Powertools Parameters) reads over loopback.
 */
const BROKEN = `sks_live_${randomBytes(12).toString('hex')}`;
const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:onbehalf-scalekit-AbCdEf';

let secrets: LocalService & { reads: () => number };
let stack: Awaited<ReturnType<typeof ownStack>>;
let output: ReturnType<typeof captureOutput> | undefined;

/** `GetSecretValue` of the Secrets Manager JSON protocol, for one secret. */
async function startSecretsManager(secretString: string): Promise<LocalService & { reads: () => number }> {
  let reads = 0;
  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const input = JSON.parse(body || '{}') as { SecretId?: string };
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue' || input.SecretId !== ARN) {
        return sendJson(res, 400, { __type: 'ResourceNotFoundException', message: 'Secrets Manager can’t find the specified secret.' });
      }
      reads++;
      sendJson(
        res,
        200,
        { ARN, Name: 'onbehalf-scalekit', SecretString: secretString, VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: 0 },
        { 'content-type': 'application/x-amz-json-1.1' },
      );
    });
  });
  return { ...(await listen(server)), reads: () => reads };
}

beforeAll(async () => {
  secrets = await startSecretsManager(BROKEN);
  stack = await ownStack({
    env: {
      SCALEKIT_SECRET_ARN: ARN,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
    },
  });
  output = captureOutput();
});

afterAll(async () => {
  output?.release();
  await stack?.close();
  await secrets?.close();
});

describe('a Scalekit secret that is not the expected JSON', () => {
  it('fails the request with a bare 500 and logs the failure without a character of the secret', async () => {
    // Prepare
    const { accessToken } = await login('alice');
    // Act
    const answer = await api('GET', '/connections', { token: accessToken, apiUrl: stack.apiUrl });
    // Assess: the secret was really read, the failure was logged, and nothing of it shows.
    expect(secrets.reads()).toBeGreaterThan(0);
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('internal_error');
    const logs = output!.lines.join('');
    expect(logs).toContain('request failed');
    expect(logs).toContain('the Scalekit secret must be JSON');
    expect(logs).not.toContain(BROKEN);
    expect(logs).not.toContain(BROKEN.slice(0, 12));
    expect(JSON.stringify(answer.body)).not.toContain(BROKEN.slice(0, 12));
  });

  it.each([
    ['the bare client secret', BROKEN],
    ['JSON with an unquoted value', `{"clientId": "skc_1", "clientSecret": ${BROKEN}}`],
    ['JSON cut short', `{"clientId": "skc_1", "clientSecret": "${BROKEN}`],
    ['JSON of the wrong shape', `{"id": "skc_1", "secret": "${BROKEN}"}`],
    ['JSON null', 'null'],
  ])('%s: the error says what is wrong, never what the secret holds', async (_name, text) => {
    // Prepare: imported only now, so the logger is made with this file's settings (see beforeAll).
    const { parseScalekitSecret } = await import('../../functions/adapters/runtime');
    // Act
    let thrown: unknown;
    try {
      parseScalekitSecret(text);
    } catch (error) {
      thrown = error;
    }
    // Assess: neither the message, nor the stack, nor a cause carries the text.
    expect(thrown).toBeInstanceOf(Error);
    const error = thrown as Error;
    expect(error.message).toMatch(/^the Scalekit secret must be JSON/);
    expect(error.cause).toBeUndefined();
    expect(`${error.message}\n${error.stack}`).not.toContain(BROKEN.slice(0, 12));
  });

  it('reads a well-formed secret', async () => {
    const { parseScalekitSecret } = await import('../../functions/adapters/runtime');
    expect(parseScalekitSecret('{"clientId":"skc_1","clientSecret":"sks_2"}')).toEqual({ clientId: 'skc_1', clientSecret: 'sks_2' });
  });
});
