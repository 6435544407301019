import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { localDynamoClient } from '../../infra/local/dynamodb';

// The real AWS SDK against DynamoDB Local, on the table the stack created from infra/table.ts.
const stack = inject('stack');
const raw = localDynamoClient(stack.dynamodbUrl);
const doc = DynamoDBDocumentClient.from(raw);
const TableName = stack.tableName;
afterAll(() => raw.destroy());

describe('DynamoDB Local with the real SDK', () => {
  it('refuses a conditional put on an existing key and keeps the first item', async () => {
    // Prepare
    const pk = `USER#${randomUUID()}`;
    await doc.send(new PutCommand({ TableName, Item: { pk, sk: 'CONV#1', version: 1 }, ConditionExpression: 'attribute_not_exists(pk)' }));
    // Act
    const second = doc.send(
      new PutCommand({ TableName, Item: { pk, sk: 'CONV#1', version: 2 }, ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    // Assess
    await expect(second).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const item = await doc.send(new GetCommand({ TableName, Key: { pk, sk: 'CONV#1' } }));
    expect(item.Item?.version).toBe(1);
  });

  it('applies a transaction all or nothing', async () => {
    const pk = `USER#${randomUUID()}`;
    await doc.send(
      new TransactWriteCommand({
        TransactItems: [{ Put: { TableName, Item: { pk, sk: 'A' } } }, { Put: { TableName, Item: { pk, sk: 'B' } } }],
      }),
    );
    const failing = doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName, Item: { pk, sk: 'C' } } },
          { Put: { TableName, Item: { pk, sk: 'A' }, ConditionExpression: 'attribute_not_exists(pk)' } },
        ],
      }),
    );
    await expect(failing).rejects.toBeInstanceOf(TransactionCanceledException);
    const items = await doc.send(
      new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk } }),
    );
    expect(items.Items?.map((item) => item.sk)).toEqual(['A', 'B']);
  });

  it('pages a query with a limit and LastEvaluatedKey, newest first', async () => {
    const pk = `USER#${randomUUID()}`;
    for (let i = 0; i < 7; i++) {
      await doc.send(new PutCommand({ TableName, Item: { pk, sk: `MSG#${String(i).padStart(4, '0')}` } }));
    }
    const seen: string[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    let pages = 0;
    do {
      const page = await doc.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pk, ':prefix': 'MSG#' },
          ScanIndexForward: false,
          Limit: 3,
          ExclusiveStartKey,
        }),
      );
      seen.push(...(page.Items ?? []).map((item) => String(item.sk)));
      ExclusiveStartKey = page.LastEvaluatedKey;
      pages++;
    } while (ExclusiveStartKey);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual(['MSG#0006', 'MSG#0005', 'MSG#0004', 'MSG#0003', 'MSG#0002', 'MSG#0001', 'MSG#0000']);
  });
});
