import { randomUUID } from 'node:crypto';
import { GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDocumentClient, keys } from '../../functions/adapters/dynamodb';
import { DynamoUsageStore, tokenChargeUpdate } from '../../functions/adapters/usage-store';
import { NO_TOKENS } from '../../functions/core/usage';
import { LOCAL_REGION } from '../../infra/local/dynamodb';
import { tableDefinition } from '../../infra/table';
import { usageStoreContract } from '../contracts/usage-store';

// The DynamoDB adapter, through the same DocumentClient the functions build, on the table the
// local stack created from infra/table.ts (DynamoDB Local, real SDK, real sockets).
const stack = inject('stack');
const db = createDocumentClient({ region: LOCAL_REGION, endpoint: stack.dynamodbUrl });
afterAll(() => db.destroy());

/** Every request the client sends to the table, by operation (`UpdateItemCommand`): what each adapter call costs. */
const sent: string[] = [];
db.middlewareStack.add(
  (next, context) => async (args) => {
    sent.push(String(context.commandName));
    return next(args);
  },
  { step: 'initialize', name: 'countCommands' },
);

/** A caller's day as stored. */
async function itemOf(sub: string, day: string): Promise<Record<string, unknown> | undefined> {
  const key = { pk: keys.user(sub), sk: keys.usage(day) };
  return (await db.send(new GetCommand({ TableName: stack.tableName, Key: key, ConsistentRead: true }))).Item;
}

usageStoreContract('DynamoDB adapter', () => ({
  store: new DynamoUsageStore(db, stack.tableName),
  dayTtl: async (sub, day) => {
    const ttl = (await itemOf(sub, day))?.[tableDefinition.ttlAttribute];
    return typeof ttl === 'number' ? ttl : undefined;
  },
}));

describe('DynamoUsageStore on the table', () => {
  const store = new DynamoUsageStore(db, stack.tableName);

  it('counts a request and answers the day’s tokens in one UpdateItem, refused or not, on the day’s one item', async () => {
    // Prepare
    const sub = `sub-${randomUUID()}`;
    await store.countRequest(sub, '2026-11-30T12:34', 1, 1);
    sent.length = 0;

    // Act
    await store.countRequest(sub, '2026-11-30T12:35', 1, 1);
    await store.countRequest(sub, '2026-11-30T12:35', 1, 1);

    // Assess
    expect(sent).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
    const { Items } = await db.send(
      new QueryCommand({
        TableName: stack.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.user(sub) },
      }),
    );
    expect(Items).toEqual([{ pk: keys.user(sub), sk: 'USAGE#2026-11-30', m1234: 1, m1235: 1, ttl: 1 }]);
  });

  it('reads a day in one GetItem', async () => {
    // Prepare
    sent.length = 0;

    // Act
    await store.readDay(`sub-${randomUUID()}`, '2026-11-30');

    // Assess
    expect(sent).toEqual(['GetItemCommand']);
  });

  it('charges tokens inside another write’s transaction with the update addTokens sends', async () => {
    // Prepare
    const sub = `sub-${randomUUID()}`;
    const charge = { ...NO_TOKENS, inputTokens: 7, cacheReadInputTokens: 3 };

    // Act
    await db.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: stack.tableName, Item: { pk: keys.user(sub), sk: 'CONV#1' } } },
          { Update: tokenChargeUpdate(stack.tableName, sub, '2026-11-30', charge, 1) },
        ],
      }),
    );
    const counted = await store.countRequest(sub, '2026-11-30T12:34', 60, 1);

    // Assess
    expect(counted).toEqual(charge);
  });
});
