import {
  BatchGetCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ConnectionStatus, LinkState, RegistryEntry, StateClaim, VerifiedResult } from '../core/domain';
import type { ConnectionStore } from '../core/ports';
import { isConditionFailed, keys } from './dynamodb';

/** A verify that crashed between claim and completion gives its claim up after this long. */
const STALE_CLAIM_MS = 60_000;

/** The registry (`CONN#`) and link states (`STATE#`) in DynamoDB, under `USER#<sub>`. */
export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getEntry(sub: string, connection: string): Promise<RegistryEntry | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: keys.user(sub), sk: keys.connection(connection) }, ConsistentRead: true }),
    );
    return Item ? toEntry(Item) : undefined;
  }

  async listEntries(sub: string): Promise<RegistryEntry[]> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.user(sub), ':prefix': 'CONN#' },
        // A connection just verified is listed with its new status (read your own writes).
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map(toEntry);
  }

  async putEntry(sub: string, entry: RegistryEntry): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: keys.user(sub), sk: keys.connection(entry.connection), ...entry },
      }),
    );
  }

  async recordStatus(
    sub: string,
    connection: string,
    seen: { status: ConnectionStatus; connectedAccountId?: string; checkedAt: string; touch?: boolean },
  ): Promise<boolean> {
    const Key = { pk: keys.user(sub), sk: keys.connection(connection) };
    const accountId = seen.connectedAccountId ? ', connectedAccountId = :id' : '';
    const values: Record<string, unknown> = { ':status': seen.status, ':at': seen.checkedAt, ':connection': connection };
    if (seen.connectedAccountId) values[':id'] = seen.connectedAccountId;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: `SET #status = :status, checkedAt = :at, changedAt = :at, #connection = :connection${accountId}`,
          ConditionExpression: 'attribute_not_exists(pk) OR #status <> :status',
          ExpressionAttributeNames: { '#status': 'status', '#connection': 'connection' },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    if (seen.touch === false) return false;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: `SET checkedAt = :at${accountId}`,
          // Only move checkedAt forward, and only while the status is still the one we saw.
          ConditionExpression: '#status = :status AND (attribute_not_exists(checkedAt) OR checkedAt < :at)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': seen.status,
            ':at': seen.checkedAt,
            ...(seen.connectedAccountId ? { ':id': seen.connectedAccountId } : {}),
          },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    return false;
  }

  async deleteEntry(sub: string, connection: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: keys.user(sub), sk: keys.connection(connection) } }));
  }

  async statusesOf(subs: readonly string[], connection: string): Promise<Map<string, ConnectionStatus>> {
    const statuses = new Map<string, ConnectionStatus>();
    for (let i = 0; i < subs.length; i += 100) {
      let keysLeft: Record<string, unknown>[] | undefined = subs
        .slice(i, i + 100)
        .map((sub) => ({ pk: keys.user(sub), sk: keys.connection(connection) }));
      while (keysLeft && keysLeft.length > 0) {
        const response = await this.db.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: { Keys: keysLeft, ProjectionExpression: 'pk, #status', ExpressionAttributeNames: { '#status': 'status' } },
            },
          }),
        );
        for (const item of response.Responses?.[this.tableName] ?? []) {
          statuses.set(String(item.pk).slice('USER#'.length), item.status as ConnectionStatus);
        }
        keysLeft = response.UnprocessedKeys?.[this.tableName]?.Keys as Record<string, unknown>[] | undefined;
      }
    }
    return statuses;
  }

  async putState(sub: string, state: LinkState): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: keys.user(sub),
          sk: keys.state(state.state),
          connection: state.connection,
          createdAt: state.createdAt,
          expiresAt: state.expiresAt,
          stateStatus: 'issued',
          ttl: Math.ceil(state.expiresAt / 1000) + 3600,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async claimState(sub: string, state: string, connection: string, authRequestId: string, now: number): Promise<StateClaim> {
    const Key = { pk: keys.user(sub), sk: keys.state(state) };
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key,
          UpdateExpression: 'SET stateStatus = :claimed, authRequestId = :request, claimedAt = :now',
          ConditionExpression:
            'attribute_exists(pk) AND #connection = :connection AND expiresAt > :now AND ' +
            '(stateStatus = :issued OR (stateStatus = :claimed AND claimedAt < :stale))',
          ExpressionAttributeNames: { '#connection': 'connection' },
          ExpressionAttributeValues: {
            ':claimed': 'claimed',
            ':issued': 'issued',
            ':request': authRequestId,
            ':now': now,
            ':stale': now - STALE_CLAIM_MS,
            ':connection': connection,
          },
        }),
      );
      return { kind: 'claimed' };
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }));
    if (Item?.stateStatus === 'used' && Item.authRequestId === authRequestId && Item.connection === connection) {
      return { kind: 'already_verified', result: Item.result as VerifiedResult | undefined };
    }
    return { kind: 'refused' };
  }

  async completeState(sub: string, state: string, authRequestId: string, result: VerifiedResult): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: keys.user(sub), sk: keys.state(state) },
        UpdateExpression: 'SET stateStatus = :used, #result = :result',
        ConditionExpression: 'stateStatus = :claimed AND authRequestId = :request',
        ExpressionAttributeNames: { '#result': 'result' },
        ExpressionAttributeValues: { ':used': 'used', ':claimed': 'claimed', ':request': authRequestId, ':result': result },
      }),
    );
  }

  async releaseState(sub: string, state: string, authRequestId: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: keys.user(sub), sk: keys.state(state) },
          UpdateExpression: 'SET stateStatus = :issued REMOVE authRequestId, claimedAt',
          ConditionExpression: 'stateStatus = :claimed AND authRequestId = :request',
          ExpressionAttributeValues: { ':issued': 'issued', ':claimed': 'claimed', ':request': authRequestId },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }
}

function toEntry(item: Record<string, unknown>): RegistryEntry {
  return {
    connection: String(item.connection),
    status: item.status as ConnectionStatus,
    connectedAccountId: typeof item.connectedAccountId === 'string' ? item.connectedAccountId : undefined,
    account: item.account as RegistryEntry['account'],
    checkedAt: String(item.checkedAt),
    changedAt: String(item.changedAt),
  };
}
