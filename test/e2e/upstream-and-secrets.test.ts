import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { completeConsent } from '../../client/consent';
import { localDynamoClient } from '../../infra/local/dynamodb';
import { api, login } from '../support/auth';
import { person, VERIFY_URL } from '../support/connect';
import { ownStack } from '../support/own-stack';
import { captureOutput } from '../support/output';

// This file runs the real handlers in this worker against a Scalekit of its own behind a proxy
// it can switch off, and captures everything the functions log.
const stack = inject('stack');
const subs = inject('subs');
let own: Awaited<ReturnType<typeof ownStack>>;
let output: ReturnType<typeof captureOutput> | undefined;
const responses: string[] = [];

beforeAll(async () => {
  own = await ownStack({ env: { POWERTOOLS_LOG_LEVEL: 'DEBUG' } });
  output = captureOutput();
});
afterAll(async () => {
  output?.release();
  await own?.close();
});

const call = async (method: string, path: string, token: string, body?: unknown) => {
  const response = await api(method, path, { token, body, apiUrl: own.apiUrl });
  responses.push(JSON.stringify(response.body));
  return response;
};

async function linkAndConsent(token: string, username: string) {
  const started = await call('POST', '/connections/asana', token, { verifyUrl: VERIFY_URL });
  const who = person(username);
  const landing = await completeConsent(started.body.authorizationUrl, { email: who.email, password: who.password });
  return { authRequestId: landing.searchParams.get('auth_request_id')!, state: landing.searchParams.get('state')! };
}

describe('Scalekit outages', () => {
  it('fails a verify with 503 while Scalekit is down, keeps the state, and the retry succeeds', async () => {
    const { accessToken } = await login('tyra');
    const params = await linkAndConsent(accessToken, 'tyra');
    await own.proxy.down();
    const failed = await call('POST', '/connections/asana/verify', accessToken, params);
    await own.proxy.up();
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe('upstream_unavailable');
    const retried = await call('POST', '/connections/asana/verify', accessToken, params);
    expect(retried.status).toBe(200);
    expect(retried.body.account.gid).toBe(person('tyra').asanaGid);
  });

  it('answers GET /connections from the registry while Scalekit is down', async () => {
    const { accessToken } = await login('tyra');
    await own.proxy.down();
    const listed = await call('GET', '/connections', accessToken);
    await own.proxy.up();
    expect(listed.status).toBe(200);
    expect(listed.body.connections).toEqual([
      {
        connection: 'asana',
        status: 'ACTIVE',
        account: expect.objectContaining({ gid: person('tyra').asanaGid }),
        checkedAt: expect.any(String),
      },
    ]);
  });

  it('fails a chat with 503 and its conversation id while Scalekit is down; resume then completes', async () => {
    const { accessToken } = await login('tyra');
    await own.proxy.down();
    const failed = await call('POST', '/conversations', accessToken, { message: 'List my open tasks' });
    await own.proxy.up();
    expect(failed.status).toBe(503);
    expect(failed.body).toEqual({
      error: { code: 'upstream_unavailable', message: expect.any(String), details: [] },
      conversationId: expect.stringMatching(/^c_/),
    });
    const resumed = await call('POST', `/conversations/${failed.body.conversationId}/resume`, accessToken);
    expect(resumed.status).toBe(200);
    expect(resumed.body.status).toBe('completed');
    const shown = await call('GET', `/conversations/${failed.body.conversationId}`, accessToken);
    expect(shown.body.messages[0]).toEqual({ role: 'user', content: [{ type: 'text', text: 'List my open tasks' }] });
  });
});

describe('Scalekit outages, continued', () => {
  it('refuses a disconnect with 503 while Scalekit is down and keeps the connection; the retry revokes it', async () => {
    const { accessToken } = await login('tyra');
    await own.proxy.down();
    const failed = await call('DELETE', '/connections/asana', accessToken);
    await own.proxy.up();
    // Refused connections read as `unavailable`; a session the outage cut mid-stream as `failed`.
    expect([502, 503, 504]).toContain(failed.status);
    expect(failed.body.error.code).toMatch(/^upstream_(failed|unavailable|timeout)$/);
    expect((await call('GET', '/connections', accessToken)).body.connections[0].status).toBe('ACTIVE');
    expect((await call('DELETE', '/connections/asana', accessToken)).status).toBe(204);
    expect((await call('GET', '/connections', accessToken)).body.connections[0].status).toBe('NOT_CONNECTED');
  });
});

describe('secrets', () => {
  it('never puts an OAuth token or the client secret in a response, a log line or the table', async () => {
    // Prepare: a full journey — connect, verify, chat with tools, list, status check.
    const { accessToken } = await login('tad');
    const params = await linkAndConsent(accessToken, 'tad');
    await call('POST', '/connections/asana/verify', accessToken, params);
    await call('GET', '/connections', accessToken);
    const create = await call('POST', '/conversations', accessToken, {
      message: 'Create a task "Leak check" in the "Website" project and assign it to me',
    });
    // Writes wait for the user under the default policy: approving them is part of the journey.
    expect(create.body.status).toBe('awaiting_approval');
    for (const { toolUseId } of create.body.pendingApprovals) {
      await call('POST', `/conversations/${create.body.conversationId}/approvals`, accessToken, { toolUseId, decision: 'approve' });
    }
    const run = await call('POST', '/conversations', accessToken, { message: 'List my open tasks' });
    await call('GET', `/conversations/${run.body.conversationId}`, accessToken);
    await fetch(`${own.apiUrl}/_control/run/connection-status`, { method: 'POST' })
      .then((r) => r.text())
      .then((t) => responses.push(t));

    // Every token the two stand-ins ever issued, read from their own state files.
    const secrets = new Set<string>([own.scalekitSecret]);
    const collect = (value: unknown, key = ''): void => {
      if (typeof value === 'string' && /token|secret/i.test(key) && value.length >= 16) secrets.add(value);
      else if (Array.isArray(value)) for (const item of value) collect(item, key);
      else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) collect(v, k);
    };
    for (const file of ['asana.json', 'scalekit.json']) collect(JSON.parse(readFileSync(join(own.stateDir, file), 'utf8')));
    expect(secrets.size).toBeGreaterThan(2);

    const raw = localDynamoClient(stack.dynamodbUrl);
    const items = await DynamoDBDocumentClient.from(raw).send(
      new QueryCommand({
        TableName: stack.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `USER#${subs.tad}` },
      }),
    );
    raw.destroy();
    // Long message content is stored deflated: searched as the text it holds.
    const table = JSON.stringify(
      items.Items?.map((item) =>
        item.contentZ instanceof Uint8Array ? { ...item, contentZ: inflateRawSync(item.contentZ).toString('utf8') } : item,
      ),
    );
    expect(table.length).toBeGreaterThan(100);
    expect(output!.lines.join('').length).toBeGreaterThan(0);

    // Assess
    for (const secret of secrets) {
      expect(table.includes(secret), 'a secret in DynamoDB').toBe(false);
      expect(
        responses.some((body) => body.includes(secret)),
        'a secret in a response',
      ).toBe(false);
      expect(
        output!.lines.some((line) => line.includes(secret)),
        'a secret in the logs',
      ).toBe(false);
    }
  });
});
