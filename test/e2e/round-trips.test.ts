import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalService } from '../../infra/local/service';
import { DynamoMeter } from '../bench/meters';
import { api } from '../support/auth';
import { chatGateway } from '../support/chat-gateway';
import { connected } from '../support/connect';
import { marker, script, textTurn, toolTurn } from '../support/standins';

// What a turn costs in DynamoDB requests, counted on the handlers' own DocumentClient against
// DynamoDB Local: a count, never a time (times are the bench's).
const world = inject('world');
const website = world.projects.find((project) => project.public)!;
const USER = 'tristan';
let token: string;
let gateway: LocalService;
let meter: DynamoMeter;

beforeAll(async () => {
  token = await connected(USER);
  gateway = await chatGateway();
  // The client the gateway's handler uses: one per process, built on first use.
  const { documentClient } = await import('../../functions/adapters/runtime');
  meter = new DynamoMeter(await documentClient());
});
afterAll(async () => {
  await gateway.close();
});

const threeReads = () => [
  { name: 'asana_me_get', input: {} },
  { name: 'asana_workspaces_list', input: {} },
  { name: 'asana_project_tasks_list', input: { project_gid: website.gid } },
];

describe('the DynamoDB requests of a turn', () => {
  it('are six for the run (each result written once, the lease given back with the answer) and one for the counters', async () => {
    // Prepare: a conversation whose second message asks for three reads at once, then an answer
    const tag = marker('round-trips');
    await script(tag, [textTurn('Hello.'), toolTurn(...threeReads()), textTurn('Three read.')]);
    const first = await api('POST', '/conversations', { token, apiUrl: gateway.url, body: { message: `${tag} hi` } });
    const before = meter.snapshot();

    // Act
    const turn = await api('POST', `/conversations/${first.body.conversationId}/messages`, {
      token,
      apiUrl: gateway.url,
      body: { message: 'Read three things' },
    });
    const after = meter.snapshot();

    // Assess
    expect(turn.status).toBe(200);
    expect(turn.body).toMatchObject({ status: 'completed', reply: 'Three read.' });
    expect(turn.body.toolCalls.map((call: { outcome: string }) => call.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const count = (operation: string) => (after.byOperation[operation] ?? 0) - (before.byOperation[operation] ?? 0);
    expect(after.requests - before.requests).toBe(7);
    // The count (with the day's tokens); the history; the lease with the message; Claude's
    // message; the starts; the results with their records; the answer with the lease's release.
    expect({ UpdateItem: count('UpdateItem'), Query: count('Query'), TransactWriteItems: count('TransactWriteItems') }).toEqual({
      UpdateItem: 2,
      Query: 1,
      TransactWriteItems: 4,
    });
    const stored = await api('GET', `/conversations/${first.body.conversationId}`, { token, apiUrl: gateway.url });
    expect(stored.body.status).toBe('completed');
    expect(stored.body.toolCalls).toHaveLength(3);
  });
});
