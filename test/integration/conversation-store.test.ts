import { randomUUID } from 'node:crypto';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DynamoConversationStore } from '../../functions/adapters/conversation-store';
import { createDocumentClient } from '../../functions/adapters/dynamodb';
import { LOCAL_REGION } from '../../infra/local/dynamodb';
import { tableDefinition } from '../../infra/table';
import { conversationId, conversationStoreContract } from '../contracts/conversation-store';

// The DynamoDB adapter, through the same DocumentClient the functions build, on the table the
// local stack created from infra/table.ts (DynamoDB Local, real SDK, real sockets).
const stack = inject('stack');
const db = createDocumentClient({ region: LOCAL_REGION, endpoint: stack.dynamodbUrl });
afterAll(() => db.destroy());

/** Every item of a user's conversation as stored, by kind: `CONV`, `MSG#<seq>`, `TOOL#<toolUseId>`. */
async function itemsOf(sub: string, id: string): Promise<Map<string, Record<string, unknown>>> {
  const { Items } = await db.send(
    new QueryCommand({
      TableName: stack.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `USER#${sub}` },
    }),
  );
  const items = new Map<string, Record<string, unknown>>();
  for (const item of Items ?? []) {
    const [kind, of, rest] = String(item.sk).split('#');
    if (of !== id) continue;
    items.set(kind === 'CONV' ? 'CONV' : kind === 'MSG' ? `MSG#${Number(rest)}` : `TOOL#${rest}`, item);
  }
  return items;
}

conversationStoreContract('DynamoDB adapter', (retention) => ({
  store: new DynamoConversationStore(db, stack.tableName, retention),
  ttlsOf: async (sub, id) =>
    Object.fromEntries([...(await itemsOf(sub, id))].map(([kind, item]) => [kind, item.ttl as number | undefined])),
  tokensOn: async (sub, day) => {
    const { Item } = await db.send(
      new GetCommand({ TableName: stack.tableName, Key: { pk: `USER#${sub}`, sk: `USAGE#${day}` }, ConsistentRead: true }),
    );
    return (
      Item && {
        inputTokens: Item.inputTokens,
        outputTokens: Item.outputTokens,
        cacheCreationInputTokens: Item.cacheCreationInputTokens,
        cacheReadInputTokens: Item.cacheReadInputTokens,
      }
    );
  },
}));

describe('DynamoConversationStore on the table', () => {
  it("writes the expiry under the table's TTL attribute, as a number of epoch seconds", async () => {
    // Prepare
    const sub = `sub-${randomUUID()}`;
    const id = conversationId(3);
    const store = new DynamoConversationStore(db, stack.tableName, { days: 7, clock: { now: () => Date.parse('2026-12-01T00:00:00Z') } });
    const usage = { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
    const header = {
      id,
      status: 'in_progress' as const,
      title: 't',
      createdAt: 'c',
      updatedAt: 'u',
      messageCount: 1,
      usage,
      pendingApprovals: [],
    };
    await store.create(
      sub,
      header,
      { seq: 0, role: 'user', content: [{ type: 'text', text: 'hi' }], startsExchange: true, tokens: 3 },
      {
        id: 'l',
        now: 1,
        expiresAt: 2,
      },
    );
    await store.update(
      sub,
      id,
      'l',
      { updatedAt: 'u' },
      { proposed: [{ toolUseId: 'toolu_1', name: 'n', inputHash: 'h', actor: sub, connection: 'asana' }] },
    );

    // Act
    const items = await itemsOf(sub, id);

    // Assess
    const expected = Date.parse('2026-12-08T00:00:00Z') / 1000;
    expect([...items.keys()].sort()).toEqual(['CONV', 'MSG#0', 'TOOL#toolu_1']);
    for (const item of items.values()) expect(item[tableDefinition.ttlAttribute]).toBe(expected);
  });
});
