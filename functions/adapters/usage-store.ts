import { GetCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
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
    // Numbered placeholders: it rides with every answer's write, and each of its bytes is paid for.
    UpdateExpression: `ADD ${TOKEN_FIELDS.map((field, index) => `${field} :${index}`).join(', ')} SET #ttl = if_not_exists(#ttl, :ttl)`,
    ExpressionAttributeNames: { '#ttl': 'ttl' },
    ExpressionAttributeValues: {
      ...Object.fromEntries(TOKEN_FIELDS.map((field, index) => [`:${index}`, tokens[field]])),
      ':ttl': expiresAt,
    },
  };
}

/** Where a minute's requests are counted: `2026-11-30T12:34` is the attribute `m1234` of the item of `2026-11-30`. */
const minuteSlot = (minute: string) => ({ day: minute.slice(0, 10), attribute: `m${minute.slice(11, 13)}${minute.slice(14, 16)}` });
const MINUTE_ATTRIBUTE = /^m\d{4}$/;

/**
 * Per-user counters under `USER#<sub>`, one item per UTC day, `USAGE#<day>`: the day's tokens and
 * the requests of each of its minutes (`m<HHMM>`), with a `ttl`. One item for both, so counting a
 * request also answers the day's tokens: one write per request, no read for the quota.
 */
export class DynamoUsageStore implements UsageStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async countRequest(sub: string, minute: string, limit: number, expiresAt: number): Promise<TokenCounts | undefined> {
    const { day, attribute } = minuteSlot(minute);
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.user(sub), sk: keys.usage(day) },
          UpdateExpression: 'ADD #minute :one SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_not_exists(#minute) OR #minute < :limit',
          ExpressionAttributeNames: { '#minute': attribute, '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': expiresAt },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return tokensOf(Attributes);
    } catch (error) {
      if (isConditionFailed(error)) return undefined;
      throw error;
    }
  }

  async addTokens(sub: string, day: string, tokens: TokenCounts, expiresAt: number): Promise<void> {
    await this.db.send(new UpdateCommand(tokenChargeUpdate(this.tableName, sub, day, tokens, expiresAt)));
  }

  async readDay(sub: string, day: string): Promise<{ requests: number; tokens: TokenCounts }> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.user(sub), sk: keys.usage(day) }, ConsistentRead: true }),
    );
    return { requests: requestsOf(Item), tokens: tokensOf(Item) };
  }
}

/** The day's requests: the sum of its minutes' counters. */
function requestsOf(item: Record<string, unknown> | undefined): number {
  let requests = 0;
  for (const [name, value] of Object.entries(item ?? {})) {
    if (MINUTE_ATTRIBUTE.test(name) && typeof value === 'number') requests += value;
  }
  return requests;
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
