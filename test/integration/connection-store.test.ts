import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, inject } from 'vitest';
import { DynamoConnectionStore } from '../../functions/adapters/connection-store';
import { createDocumentClient, keys } from '../../functions/adapters/dynamodb';
import { LOCAL_REGION } from '../../infra/local/dynamodb';
import { tableDefinition } from '../../infra/table';
import { connectionStoreContract } from '../contracts/connection-store';

// The DynamoDB adapter, through the same DocumentClient the functions build, on the table the
// local stack created from infra/table.ts (DynamoDB Local, real SDK, real sockets).
const stack = inject('stack');
const db = createDocumentClient({ region: LOCAL_REGION, endpoint: stack.dynamodbUrl });
afterAll(() => db.destroy());

connectionStoreContract('DynamoDB adapter', () => ({
  store: new DynamoConnectionStore(db, stack.tableName),
  stateTtl: async (sub, state) => {
    const { Item } = await db.send(
      new GetCommand({ TableName: stack.tableName, Key: { pk: keys.user(sub), sk: keys.state(state) }, ConsistentRead: true }),
    );
    const ttl = Item?.[tableDefinition.ttlAttribute];
    return typeof ttl === 'number' ? ttl : undefined;
  },
}));
