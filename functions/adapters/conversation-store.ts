import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { fitWindow, intactHistory } from '../core/history';
import { type ConversationHeader, isConversationId, type StoredMessage, type ToolDecision, type ToolRecord } from '../core/domain';
import {
  BadPageToken,
  type ConversationPage,
  expiryOf,
  isExpired,
  type ConversationStore,
  type HeaderChanges,
  type Lease,
  LeaseLost,
  LeaseUnavailable,
  type Retention,
  type ToolFinish,
} from '../core/ports';
import { isConditionFailed, keys } from './dynamodb';

type Item = Record<string, unknown>;

/** How many messages one page of a window read fetches, newest first. */
const WINDOW_PAGE = 40;

/** The retention when none is given: the default of `ONBEHALF_CONVERSATION_TTL_DAYS`, on the system clock. */
const DEFAULT_RETENTION: Retention = { days: 90, clock: { now: () => Date.now() } };

/**
 * Conversations in the one table: `CONV#`, `MSG#` and `TOOL#` items under `USER#<sub>`. Every write
 * sets the item's `ttl` (the table's TTL attribute) to now plus the retention; every read checks it
 * too, since the table deletes expired items only some time after they expire.
 */
export class DynamoConversationStore implements ConversationStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly retention: Retention = DEFAULT_RETENTION,
  ) {}

  private key(sub: string, sk: string) {
    return { pk: keys.user(sub), sk };
  }

  /** The `ttl` of an item written now. */
  private ttl(): number {
    return expiryOf(this.retention);
  }

  private live(item: Item): boolean {
    return !isExpired(typeof item.ttl === 'number' ? item.ttl : undefined, this.retention);
  }

  async create(sub: string, header: ConversationHeader, first: StoredMessage, lease: Lease): Promise<void> {
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: {
                ...this.key(sub, keys.conversation(header.id)),
                ...header,
                leaseId: lease.id,
                leaseExpiresAt: lease.expiresAt,
                ttl: this.ttl(),
              },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: this.tableName,
              Item: messageItem(sub, header.id, first, this.ttl()),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      }),
    );
  }

  async acquire(sub: string, id: string, lease: Lease): Promise<ConversationHeader | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.conversation(id)),
          UpdateExpression: 'SET leaseId = :lease, leaseExpiresAt = :expires, #ttl = :ttl',
          // An expired header is no conversation, even before the table deletes it.
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(#ttl) OR #ttl > :seconds) AND (attribute_not_exists(leaseId) OR leaseExpiresAt < :now)',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':lease': lease.id,
            ':expires': lease.expiresAt,
            ':now': lease.now,
            ':ttl': this.ttl(),
            ':seconds': Math.floor(this.retention.clock.now() / 1000),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? headerOf(Attributes) : undefined;
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
    const existing = await this.get(sub, id);
    if (!existing) return undefined;
    throw new LeaseUnavailable();
  }

  async release(sub: string, id: string, leaseId: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.conversation(id)),
          UpdateExpression: 'REMOVE leaseId, leaseExpiresAt',
          ConditionExpression: 'leaseId = :lease',
          ExpressionAttributeValues: { ':lease': leaseId },
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

  async get(sub: string, id: string): Promise<ConversationHeader | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: this.key(sub, keys.conversation(id)), ConsistentRead: true }),
    );
    return Item && this.live(Item) ? headerOf(Item) : undefined;
  }

  async list(sub: string, limit: number, nextToken: string | undefined): Promise<ConversationPage> {
    // One more than asked: a token only when a next page really exists. Expired headers are
    // skipped, so a page may take more than one query.
    const found: Item[] = [];
    let ExclusiveStartKey: Item | undefined = nextToken === undefined ? undefined : { pk: keys.user(sub), sk: decodeToken(nextToken) };
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': keys.user(sub), ':prefix': 'CONV#' },
          ScanIndexForward: false,
          Limit: limit + 1 - found.length,
          // A conversation just created is listed (read your own writes, as every other read here).
          ConsistentRead: true,
          ExclusiveStartKey,
        }),
      );
      found.push(...(page.Items ?? []).filter((item) => this.live(item)));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey && found.length <= limit);
    const items = found.slice(0, limit);
    const more = found.length > limit;
    const last = items.at(-1);
    return {
      items: items.map(headerOf),
      nextToken: more && last ? Buffer.from(String(last.sk)).toString('base64url') : null,
    };
  }

  async append(sub: string, id: string, leaseId: string, message: StoredMessage, changes: HeaderChanges): Promise<void> {
    const ttl = this.ttl();
    const update = updateOf({ ...changes, ttl });
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: { TableName: this.tableName, Item: messageItem(sub, id, message, ttl), ConditionExpression: 'attribute_not_exists(pk)' },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: this.key(sub, keys.conversation(id)),
                UpdateExpression: update.expression,
                ConditionExpression: 'leaseId = :lease AND messageCount = :seq',
                ExpressionAttributeNames: update.names,
                ExpressionAttributeValues: { ...update.values, ':lease': leaseId, ':seq': message.seq },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (error instanceof Error && error.name === 'TransactionCanceledException') throw new LeaseLost();
      throw error;
    }
  }

  async update(sub: string, id: string, leaseId: string, changes: HeaderChanges): Promise<void> {
    const update = updateOf({ ...changes, ttl: this.ttl() });
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.conversation(id)),
          UpdateExpression: update.expression,
          ConditionExpression: 'leaseId = :lease',
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: { ...update.values, ':lease': leaseId },
        }),
      );
    } catch (error) {
      if (isConditionFailed(error)) throw new LeaseLost();
      throw error;
    }
  }

  async window(sub: string, id: string, tokenBudget: number): Promise<StoredMessage[]> {
    const newestFirst: StoredMessage[] = [];
    let tokens = 0;
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': keys.user(sub), ':prefix': keys.messagePrefix(id) },
          ScanIndexForward: false,
          Limit: WINDOW_PAGE,
          ExclusiveStartKey,
          ConsistentRead: true,
        }),
      );
      let enough = false;
      for (const item of page.Items ?? []) {
        const message = messageOf(item);
        // An expired message (or one the table already deleted): nothing older can be sent.
        const previous = newestFirst.at(-1);
        if (!this.live(item) || (previous !== undefined && message.seq !== previous.seq - 1)) {
          enough = true;
          break;
        }
        newestFirst.push(message);
        tokens += message.tokens;
        // Past the budget at an exchange start: nothing older can be sent.
        if (tokens > tokenBudget && message.startsExchange) {
          enough = true;
          break;
        }
      }
      ExclusiveStartKey = enough ? undefined : page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return fitWindow(intactHistory(newestFirst.reverse()), tokenBudget);
  }

  async messages(sub: string, id: string): Promise<StoredMessage[]> {
    return intactHistory((await this.queryAll(sub, keys.messagePrefix(id))).filter((item) => this.live(item)).map(messageOf));
  }

  async toolRecords(sub: string, id: string, toolUseIds?: readonly string[]): Promise<ToolRecord[]> {
    if (toolUseIds === undefined) {
      return (await this.queryAll(sub, keys.toolPrefix(id))).filter((item) => this.live(item)).map(toolOf);
    }
    const records: ToolRecord[] = [];
    for (let i = 0; i < toolUseIds.length; i += 100) {
      let pending: Item[] | undefined = toolUseIds.slice(i, i + 100).map((toolUseId) => this.key(sub, keys.tool(id, toolUseId)));
      while (pending && pending.length > 0) {
        const response = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        records.push(...(response.Responses?.[this.tableName] ?? []).filter((item) => this.live(item)).map(toolOf));
        pending = response.UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined;
      }
    }
    return records;
  }

  async proposeTool(sub: string, id: string, record: ToolRecord): Promise<void> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toolItem(sub, id, record, this.ttl()),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (!isConditionFailed(error)) throw error;
    }
  }

  async decideTool(sub: string, id: string, toolUseId: string, decision: ToolDecision): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.tool(id, toolUseId)),
          UpdateExpression: 'SET decision = :decision, #ttl = :ttl',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(decision) AND inputHash = :hash',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':decision': decision, ':hash': decision.inputHash, ':ttl': this.ttl() },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  async startTool(sub: string, id: string, record: ToolRecord): Promise<boolean> {
    const update = updateOf({
      toolUseId: record.toolUseId,
      name: record.name,
      input: JSON.stringify(record.input),
      inputHash: record.inputHash,
      actor: record.actor,
      connection: record.connection,
      startedAt: record.startedAt,
      ttl: this.ttl(),
    });
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.tool(id, record.toolUseId)),
          UpdateExpression: update.expression,
          ConditionExpression: 'attribute_not_exists(startedAt)',
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: update.values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  }

  async unstartTool(sub: string, id: string, toolUseId: string): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.tool(id, toolUseId)),
          UpdateExpression: 'REMOVE startedAt',
          ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(outcome)',
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailed(error)) throw error;
      });
  }

  async finishTool(sub: string, id: string, toolUseId: string, finish: ToolFinish): Promise<void> {
    const update = updateOf({ ...finish, toolUseId, input: JSON.stringify(finish.input), ttl: this.ttl() });
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.key(sub, keys.tool(id, toolUseId)),
        UpdateExpression: update.expression,
        ConditionExpression: 'attribute_not_exists(outcome)',
        ExpressionAttributeNames: update.names,
        ExpressionAttributeValues: update.values,
      }),
    );
  }

  async delete(sub: string, id: string, leaseId: string): Promise<boolean> {
    const header = await this.get(sub, id);
    if (!header) return false;
    // Confirm the lease before the first delete: a request that lost it must delete nothing.
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.conversation(id)),
          UpdateExpression: 'SET leaseId = :lease',
          ConditionExpression: 'leaseId = :lease',
          ExpressionAttributeValues: { ':lease': leaseId },
        }),
      );
    } catch (error) {
      if (isConditionFailed(error)) throw new LeaseLost();
      throw error;
    }
    const items = [...(await this.queryAll(sub, keys.messagePrefix(id), true)), ...(await this.queryAll(sub, keys.toolPrefix(id), true))];
    for (let i = 0; i < items.length; i += 25) {
      let requests: Item[] | undefined = items.slice(i, i + 25).map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
      while (requests && requests.length > 0) {
        const response = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: requests } }));
        requests = response.UnprocessedItems?.[this.tableName] as Item[] | undefined;
      }
    }
    // The header goes last, and only while this request holds the lease.
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.tableName,
                Key: this.key(sub, keys.conversation(id)),
                ConditionExpression: 'leaseId = :lease',
                ExpressionAttributeValues: { ':lease': leaseId },
              },
            },
          ],
        }),
      );
    } catch (error) {
      if (error instanceof Error && error.name === 'TransactionCanceledException') throw new LeaseLost();
      throw error;
    }
    return true;
  }

  private async queryAll(sub: string, prefix: string, keysOnly = false): Promise<Item[]> {
    const items: Item[] = [];
    let ExclusiveStartKey: Item | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': keys.user(sub), ':prefix': prefix },
          ExclusiveStartKey,
          ConsistentRead: true,
          ...(keysOnly ? { ProjectionExpression: 'pk, sk' } : {}),
        }),
      );
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }
}

function decodeToken(token: string): string {
  const sk = Buffer.from(token, 'base64url').toString('utf8');
  if (!sk.startsWith('CONV#') || !isConversationId(sk.slice('CONV#'.length))) throw new BadPageToken();
  return sk;
}

/** `SET #a = :a, …` for every defined field: header changes and tool records alike. */
function updateOf(changes: HeaderChanges | Item): { expression: string; names: Record<string, string>; values: Item } {
  const names: Record<string, string> = {};
  const values: Item = {};
  const sets: string[] = [];
  for (const [field, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    names[`#${field}`] = field;
    values[`:${field}`] = value;
    sets.push(`#${field} = :${field}`);
  }
  return { expression: `SET ${sets.join(', ')}`, names, values };
}

function messageItem(sub: string, id: string, message: StoredMessage, ttl: number): Item {
  return {
    pk: keys.user(sub),
    sk: keys.message(id, message.seq),
    seq: message.seq,
    role: message.role,
    // Stored as the exact JSON sent to or received from Claude.
    content: JSON.stringify(message.content),
    stopReason: message.stopReason,
    startsExchange: message.startsExchange,
    tokens: message.tokens,
    ttl,
  };
}

function messageOf(item: Item): StoredMessage {
  return {
    seq: Number(item.seq),
    role: item.role === 'assistant' ? 'assistant' : 'user',
    content: JSON.parse(String(item.content)) as StoredMessage['content'],
    stopReason: typeof item.stopReason === 'string' ? item.stopReason : undefined,
    startsExchange: item.startsExchange === true,
    tokens: Number(item.tokens ?? 0),
  };
}

function headerOf(item: Item): ConversationHeader {
  return {
    id: String(item.id),
    status: item.status as ConversationHeader['status'],
    title: String(item.title ?? ''),
    createdAt: String(item.createdAt),
    updatedAt: String(item.updatedAt),
    messageCount: Number(item.messageCount ?? 0),
    usage: item.usage as ConversationHeader['usage'],
    pendingApprovals: (item.pendingApprovals as ConversationHeader['pendingApprovals'] | undefined) ?? [],
    truncated: item.truncated === true,
  };
}

function toolItem(sub: string, id: string, record: ToolRecord, ttl: number): Item {
  return { pk: keys.user(sub), sk: keys.tool(id, record.toolUseId), ...record, input: JSON.stringify(record.input), ttl };
}

function toolOf(item: Item): ToolRecord {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    toolUseId: String(item.toolUseId ?? String(item.sk).split('#').at(-1)),
    name: String(item.name ?? ''),
    input: item.input ? (JSON.parse(String(item.input)) as Record<string, unknown>) : {},
    inputHash: String(item.inputHash ?? ''),
    actor: String(item.actor ?? ''),
    connection: String(item.connection ?? ''),
    startedAt: text(item.startedAt),
    finishedAt: text(item.finishedAt),
    outcome: text(item.outcome) as ToolRecord['outcome'],
    result: text(item.result),
    isError: item.isError === true,
    executionId: text(item.executionId),
    durationMs: typeof item.durationMs === 'number' ? item.durationMs : undefined,
    decision: item.decision as ToolRecord['decision'],
  };
}
