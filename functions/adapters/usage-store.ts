import { GetCommand, type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { NO_TOKENS, type TokenCounts, type UsageStore } from '../core/usage';
import { isConditionFailed, keys } from './dynamodb';

const TOKEN_FIELDS = ['inputTokens', 'outputTokens', 'cacheCreationInputTokens', 'cacheReadInputTokens'] as const;

/** One `Update` of the DocumentClient: the input of an `UpdateCommand`, or an item of a `TransactWriteCommand`. */
export interface DocumentUpdate {
  readonly TableName: string;
  readonly Key: { readonly pk: string; readonly sk: string };
  readonly UpdateExpression: string;
  readonly ExpressionAttributeNames: Readonly<Record<string, string>>;
  readonly ExpressionAttributeValues: Readonly<Record<string, number>>;
}

/**
 * Adds a model call's tokens to the caller's `day`: the update `addTokens` sends, and that
 * another adapter may put in its own `TransactWriteItems` to charge the tokens with its writes.
 */
export function tokenChargeUpdate(tableName: string, sub: string, day: string, tokens: TokenCounts, expiresAt: number): DocumentUpdate {
  return {
    TableName: tableName,
    Key: { pk: keys.user(sub), sk: keys.usage(day) },
    UpdateExpression: `ADD ${TOKEN_FIELDS.map((field) => `${field} :${field}`).join(', ')} SET #ttl = if_not_exists(#ttl, :ttl)`,
    ExpressionAttributeNames: { '#ttl': 'ttl' },
    ExpressionAttributeValues: {
      ...Object.fromEntries(TOKEN_FIELDS.map((field) => [`:${field}`, tokens[field]])),
      ':ttl': expiresAt,
    },
  };
}

/** Per-user counters under `USER#<sub>`: `RATE#<minute>` (requests) and `USAGE#<day>` (tokens), each with a `ttl`. */
export class DynamoUsageStore implements UsageStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async countRequest(sub: string, minute: string, limit: number, expiresAt: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.user(sub), sk: keys.rate(minute) },
          UpdateExpression: 'ADD requests :one SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_not_exists(requests) OR requests < :limit',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': expiresAt },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  async addTokens(sub: string, day: string, tokens: TokenCounts, expiresAt: number): Promise<void> {
    await this.db.send(new UpdateCommand(tokenChargeUpdate(this.tableName, sub, day, tokens, expiresAt)));
  }

  async readTokens(sub: string, day: string): Promise<TokenCounts> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.user(sub), sk: keys.usage(day) }, ConsistentRead: true }),
    );
    return tokensOf(Item);
  }

  async readDay(sub: string, day: string): Promise<{ requests: number; tokens: TokenCounts }> {
    let requests = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': keys.user(sub), ':prefix': keys.rate(`${day}T`) },
          ProjectionExpression: 'requests',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) requests += typeof item.requests === 'number' ? item.requests : 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return { requests, tokens: await this.readTokens(sub, day) };
  }
}

function tokensOf(item: Record<string, unknown> | undefined): TokenCounts {
  if (!item) return NO_TOKENS;
  const count = (field: (typeof TOKEN_FIELDS)[number]) => (typeof item[field] === 'number' ? (item[field] as number) : 0);
  return {
    inputTokens: count('inputTokens'),
    outputTokens: count('outputTokens'),
    cacheCreationInputTokens: count('cacheCreationInputTokens'),
    cacheReadInputTokens: count('cacheReadInputTokens'),
  };
}
