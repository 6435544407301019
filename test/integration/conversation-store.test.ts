import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DynamoConversationStore } from '../../functions/adapters/conversation-store';
import { createDocumentClient } from '../../functions/adapters/dynamodb';
import { LOCAL_REGION } from '../../infra/local/dynamodb';
import { conversationId, conversationStoreContract } from '../contracts/conversation-store';

// The DynamoDB adapter, through the same DocumentClient the functions build, on the table the
// local stack created from infra/table.ts (DynamoDB Local, real SDK, real sockets).
const stack = inject('stack');
const db = createDocumentClient({ region: LOCAL_REGION, endpoint: stack.dynamodbUrl });
const store = new DynamoConversationStore(db, stack.tableName);
afterAll(() => db.destroy());

conversationStoreContract('DynamoDB adapter', () => ({ store }));

describe('DynamoConversationStore on the table', () => {
  it('writes conversations without a ttl: only deleting the conversation removes them', async () => {
    // Prepare
    const sub = `sub-${randomUUID()}`;
    const id = conversationId(3);
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
    await store.proposeTool(sub, id, { toolUseId: 'toolu_1', name: 'n', input: {}, inputHash: 'h', actor: sub, connection: 'asana' });

    // Act
    const { Items } = await db.send(
      new QueryCommand({
        TableName: stack.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `USER#${sub}` },
      }),
    );

    // Assess
    expect(Items?.map((item) => String(item.sk).split('#')[0]).sort()).toEqual(['CONV', 'MSG', 'TOOL']);
    expect(Items?.map((item) => item.ttl)).toEqual([undefined, undefined, undefined]);
  });
});
