import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { fitWindow, intactHistory } from '../core/history';
import {
  type ConversationHeader,
  isConversationId,
  type RunStatus,
  type StoredMessage,
  type ToolDecision,
  type ToolRecord,
} from '../core/domain';
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
  type ToolCallBase,
  type ToolFinish,
  type ToolStart,
  type WriteOptions,
} from '../core/ports';
import { isConditionFailed, keys } from './dynamodb';
import { tokenChargeUpdate } from './usage-store';

type Item = Record<string, unknown>;
type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
type Update = NonNullable<TransactItem['Update']>;

/** DynamoDB's limit of items in one transaction. */
const TRANSACTION_MAX_ITEMS = 100;
/** Calls marked started by one write (an expression stays well within DynamoDB's limits). */
const STARTS_PER_WRITE = 50;

/**
 * The header attribute that marks a call started while it runs (its start time). Starting a
 * batch is then one write on one item, and a call's record is written once, when it ends.
 */
const startMark = (toolUseId: string) => `started_${toolUseId}`;

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

  async acquireWithMessage(
    sub: string,
    id: string,
    lease: Lease,
    message: StoredMessage,
    statuses: readonly RunStatus[],
    changes: HeaderChanges,
  ): Promise<boolean> {
    const ttl = this.ttl();
    const header = headerUpdate(changes, ttl, { leaseId: lease.id });
    const allowed = statuses.map((status) => header.value(status));
    try {
      await this.db.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.tableName,
                Key: this.key(sub, keys.conversation(id)),
                UpdateExpression: header.expression,
                // The same conditions as `acquire`, and the state the caller read the history in.
                ConditionExpression: [
                  `attribute_exists(pk) AND (attribute_not_exists(${header.name('ttl')}) OR ${header.name('ttl')} > :seconds)`,
                  '(attribute_not_exists(leaseId) OR leaseExpiresAt < :now)',
                  `messageCount = :seq AND ${header.name('status')} IN (${allowed.join(', ')})`,
                ].join(' AND '),
                ExpressionAttributeNames: header.names,
                ExpressionAttributeValues: {
                  ...header.values,
                  ':seconds': Math.floor(this.retention.clock.now() / 1000),
                  ':now': lease.now,
                  ':seq': message.seq,
                },
              },
            },
            {
              Put: { TableName: this.tableName, Item: messageItem(sub, id, message, ttl), ConditionExpression: 'attribute_not_exists(pk)' },
            },
          ],
        }),
      );
      return true;
    } catch (error) {
      if (cancellationCodes(error)) return false;
      throw error;
    }
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

  async append(
    sub: string,
    id: string,
    leaseId: string,
    message: StoredMessage,
    changes: HeaderChanges,
    options: WriteOptions = {},
  ): Promise<void> {
    const ttl = this.ttl();
    const put = {
      Put: { TableName: this.tableName, Item: messageItem(sub, id, message, ttl), ConditionExpression: 'attribute_not_exists(pk)' },
    };
    await this.transact(
      [put, { Update: this.heldHeader(sub, id, leaseId, changes, options, message.seq) }, ...this.riders(sub, id, options)],
      2,
    );
  }

  async update(sub: string, id: string, leaseId: string, changes: HeaderChanges, options: WriteOptions = {}): Promise<void> {
    const header = this.heldHeader(sub, id, leaseId, changes, options);
    const riders = this.riders(sub, id, options);
    if (riders.length > 0) return this.transact([{ Update: header }, ...riders], 1);
    try {
      await this.db.send(new UpdateCommand(header));
    } catch (error) {
      if (isConditionFailed(error)) throw new LeaseLost();
      throw error;
    }
  }

  /** The header's part of a run's write: conditional on the lease (and on the next `seq` for an append). */
  private heldHeader(sub: string, id: string, leaseId: string, changes: HeaderChanges, options: WriteOptions, seq?: number): Update {
    const header = headerUpdate(changes, this.ttl(), { release: options.release === true });
    // A call that ended is no longer marked started on the header: its record says it all.
    for (const finish of options.finished ?? []) header.remove(header.name(startMark(finish.toolUseId)));
    return {
      TableName: this.tableName,
      Key: this.key(sub, keys.conversation(id)),
      UpdateExpression: header.expression,
      ConditionExpression: seq === undefined ? 'leaseId = :lease' : 'leaseId = :lease AND messageCount = :seq',
      ExpressionAttributeNames: header.names,
      ExpressionAttributeValues: { ...header.values, ':lease': leaseId, ...(seq === undefined ? {} : { ':seq': seq }) },
    };
  }

  /** What rides with a write: tool records and the token charge. */
  private riders(sub: string, id: string, options: WriteOptions): TransactItem[] {
    const ttl = this.ttl();
    const { charge } = options;
    const tool = (toolUseId: string) => ({ TableName: this.tableName, Key: this.key(sub, keys.tool(id, toolUseId)) });
    return [
      // A record proposed before (maybe decided since) keeps what it holds.
      ...(options.proposed ?? []).map((base) => ({ Update: { ...tool(base.toolUseId), ...setAll(baseFields(base), ttl, true) } })),
      ...(options.finished ?? []).map((finish): TransactItem => {
        const key = tool(finish.toolUseId);
        // Written once: a call's first record is put whole, one proposed before gets its outcome.
        return finish.whole
          ? {
              Put: {
                ...key,
                Item: { ...key.Key, ...definedOf(finishFields(finish)), ttl },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            }
          : { Update: { ...key, ...setAll(finishFields(finish), ttl), ConditionExpression: 'attribute_not_exists(outcome)' } };
      }),
      ...(options.settled ?? []).map((toolUseId) => ({
        Update: { ...tool(toolUseId), UpdateExpression: 'REMOVE #result', ExpressionAttributeNames: { '#result': 'result' } },
      })),
      ...(charge ? [{ Update: tokenChargeUpdate(this.tableName, sub, charge.day, charge.tokens, charge.expiresAt) }] : []),
    ];
  }

  /**
   * One transaction of a held conversation. Its first `guarded` items are the header (and the
   * message): a failed condition there means the lease is gone, or the history moved on under it.
   */
  private async transact(items: TransactItem[], guarded: number): Promise<void> {
    if (items.length > TRANSACTION_MAX_ITEMS)
      throw new Error(`one write of ${items.length} items: over DynamoDB's ${TRANSACTION_MAX_ITEMS}`);
    try {
      await this.db.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (error) {
      const codes = cancellationCodes(error);
      if (!codes) throw error;
      if (codes.length === 0 || codes.slice(0, guarded).includes('ConditionalCheckFailed')) throw new LeaseLost();
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
    const headerKey = this.key(sub, keys.conversation(id));
    if (toolUseIds === undefined) {
      const [items, { Item: header }] = await Promise.all([
        this.queryAll(sub, keys.toolPrefix(id)),
        this.db.send(new GetCommand({ TableName: this.tableName, Key: headerKey, ConsistentRead: true })),
      ]);
      return withStarts(items.filter((item) => this.live(item)).map(toolOf), header);
    }
    // The header comes with the first batch: it marks the calls started and not yet ended.
    const items: Item[] = [];
    let header: Item | undefined;
    for (let i = 0; i < toolUseIds.length; i += 99) {
      let pending: Item[] | undefined = [
        ...(i === 0 ? [headerKey] : []),
        ...toolUseIds.slice(i, i + 99).map((toolUseId) => this.key(sub, keys.tool(id, toolUseId))),
      ];
      while (pending && pending.length > 0) {
        const response = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        for (const item of response.Responses?.[this.tableName] ?? []) {
          if (item.sk === headerKey.sk) header = item;
          else if (this.live(item)) items.push(item);
        }
        pending = response.UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined;
      }
    }
    return withStarts(items.map(toolOf), header, toolUseIds);
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

  async startTools(sub: string, id: string, leaseId: string, records: readonly ToolStart[]): Promise<ReadonlySet<string>> {
    const started = new Set<string>();
    const headerKey = this.key(sub, keys.conversation(id));
    for (let i = 0; i < records.length; i += STARTS_PER_WRITE) {
      let pending = records.slice(i, i + STARTS_PER_WRITE);
      while (pending.length > 0) {
        // One write on the header: each call marked once, only while this request holds the lease.
        const update = new Expression();
        const marks = pending.map((record) => {
          const mark = update.name(startMark(record.toolUseId));
          update.setAt(mark, record.startedAt);
          return mark;
        });
        update.set('ttl', this.ttl());
        try {
          await this.db.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: headerKey,
              UpdateExpression: update.expression,
              ConditionExpression: ['leaseId = :lease', ...marks.map((mark) => `attribute_not_exists(${mark})`)].join(' AND '),
              ExpressionAttributeNames: update.names,
              ExpressionAttributeValues: { ...update.values, ':lease': leaseId },
            }),
          );
          for (const record of pending) started.add(record.toolUseId);
          pending = [];
        } catch (error) {
          if (!isConditionFailed(error)) throw error;
          // Refused: the header as it is now says why (the lease, or calls started before).
          const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: headerKey, ConsistentRead: true }));
          if (Item?.leaseId !== leaseId) throw new LeaseLost();
          const before = pending.filter((record) => Item[startMark(record.toolUseId)] !== undefined);
          if (before.length === 0) throw error;
          pending = pending.filter((record) => !before.includes(record));
        }
      }
    }
    return started;
  }

  async unstartTool(sub: string, id: string, toolUseId: string): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.key(sub, keys.conversation(id)),
          UpdateExpression: 'REMOVE #mark',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#mark': startMark(toolUseId) },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailed(error)) throw error;
      });
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

/**
 * An update expression's parts, built field by field. Placeholders are numbered (`#0`, `:0`):
 * every byte of a request is paid for on each write, and a field's name then appears once.
 */
class Expression {
  readonly names: Record<string, string> = {};
  readonly values: Item = {};
  private readonly placeholders = new Map<string, string>();
  private readonly sets: string[] = [];
  private readonly removes: string[] = [];

  name(field: string): string {
    let placeholder = this.placeholders.get(field);
    if (placeholder === undefined) {
      placeholder = `#${this.placeholders.size}`;
      this.placeholders.set(field, placeholder);
      this.names[placeholder] = field;
    }
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:${Object.keys(this.values).length}`;
    this.values[placeholder] = value;
    return placeholder;
  }

  set(field: string, value: unknown): this {
    if (value !== undefined) this.sets.push(`${this.name(field)} = ${this.value(value)}`);
    return this;
  }

  /** `SET` of a field already named (its placeholder). */
  setAt(placeholder: string, value: unknown): this {
    this.sets.push(`${placeholder} = ${this.value(value)}`);
    return this;
  }

  setMissing(field: string, value: unknown): this {
    if (value !== undefined) this.sets.push(`${this.name(field)} = if_not_exists(${this.name(field)}, ${this.value(value)})`);
    return this;
  }

  add(path: string, value: unknown): this {
    this.sets.push(`${path} = ${path} + ${this.value(value)}`);
    return this;
  }

  remove(...paths: string[]): this {
    this.removes.push(...paths);
    return this;
  }

  get expression(): string {
    return [this.sets.length > 0 ? `SET ${this.sets.join(', ')}` : '', this.removes.length > 0 ? `REMOVE ${this.removes.join(', ')}` : '']
      .filter(Boolean)
      .join(' ');
  }
}

/**
 * A header's changes as an update: the usage added to the running total, the lease taken
 * (`leaseId`), renewed (`changes.leaseExpiresAt`) or given back (`release`).
 */
function headerUpdate(changes: HeaderChanges, ttl: number, lease: { leaseId?: string; release?: boolean }): Expression {
  const { addUsage, leaseExpiresAt, ...fields } = changes;
  const update = new Expression();
  for (const [field, value] of Object.entries({ ...fields, ttl })) update.set(field, value);
  for (const [field, value] of Object.entries(addUsage ?? {})) {
    update.add(`${update.name('usage')}.${update.name(field)}`, value);
  }
  if (lease.leaseId !== undefined) update.set('leaseId', lease.leaseId);
  if (lease.release) update.remove(update.name('leaseId'), update.name('leaseExpiresAt'));
  else update.set('leaseExpiresAt', leaseExpiresAt);
  return update;
}

/** `SET` of every defined field (unless `keep`: only where missing) and the item's `ttl`, as an update's parts. */
function setAll(
  fields: Item,
  ttl: number,
  keep = false,
): Pick<Update, 'UpdateExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> {
  const update = new Expression();
  for (const [field, value] of Object.entries(fields)) {
    if (keep) update.setMissing(field, value);
    else update.set(field, value);
  }
  update.set('ttl', ttl);
  return { UpdateExpression: update.expression, ExpressionAttributeNames: update.names, ExpressionAttributeValues: update.values };
}

/** What ran: every record holds it (its `toolUseId` and its actor are in its key). */
const baseFields = (base: ToolCallBase): Item => ({
  name: base.name,
  inputHash: base.inputHash,
  connection: base.connection,
});

/** Who ran what, when it started and how it ended: the whole record, written once. */
const finishFields = (finish: ToolFinish): Item => ({
  ...baseFields(finish),
  startedAt: finish.startedAt,
  outcome: finish.outcome,
  result: finish.result,
  // Kept only where the outcome does not already say it (every outcome but success is an error).
  isError: finish.isError === (finish.outcome !== 'succeeded') ? undefined : finish.isError,
  finishedAt: finish.finishedAt,
  executionId: finish.executionId,
  durationMs: finish.durationMs,
});

/** The per-item reasons of a cancelled transaction (empty when DynamoDB gave none); `undefined` for any other error. */
function cancellationCodes(error: unknown): (string | undefined)[] | undefined {
  if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') return undefined;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.map((reason) => reason.Code);
}

/**
 * Content whose JSON is longer than this is stored deflated (`contentZ`, binary): tool results
 * are mostly repetitive JSON, and every byte of an item is paid for when written and read.
 */
const DEFLATE_FROM_BYTES = 1_024;

/** A message's content as stored: the exact JSON sent to or received from Claude, deflated when long. */
function storedContent(content: StoredMessage['content']): Item {
  const json = JSON.stringify(content);
  return Buffer.byteLength(json, 'utf8') > DEFLATE_FROM_BYTES ? { contentZ: deflateRawSync(json) } : { content: json };
}

function contentOf(item: Item): StoredMessage['content'] {
  const json = item.contentZ instanceof Uint8Array ? inflateRawSync(item.contentZ).toString('utf8') : String(item.content);
  return JSON.parse(json) as StoredMessage['content'];
}

function messageItem(sub: string, id: string, message: StoredMessage, ttl: number): Item {
  return {
    pk: keys.user(sub),
    sk: keys.message(id, message.seq),
    seq: message.seq,
    role: message.role,
    ...storedContent(message.content),
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
    content: contentOf(item),
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

/**
 * Records with the starts the header marks: a call started and not yet ended has its start time
 * (and, without a record of its own, a record of just that).
 */
function withStarts(records: ToolRecord[], header: Item | undefined, toolUseIds?: readonly string[]): ToolRecord[] {
  if (!header) return records;
  const byId = new Map(records.map((record) => [record.toolUseId, record]));
  const marked = Object.keys(header)
    .filter((attribute) => attribute.startsWith(startMark('')))
    .map((attribute) => attribute.slice(startMark('').length))
    .filter((toolUseId) => toolUseIds === undefined || toolUseIds.includes(toolUseId));
  for (const toolUseId of marked) {
    const record = byId.get(toolUseId);
    if (record?.outcome !== undefined) continue;
    const startedAt = String(header[startMark(toolUseId)]);
    byId.set(toolUseId, { ...(record ?? { toolUseId, name: '', inputHash: '', actor: '', connection: '' }), startedAt });
  }
  return [...byId.values()];
}

/** The fields that have a value (a put item holds no `undefined`). */
const definedOf = (fields: Item): Item => Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));

function toolOf(item: Item): ToolRecord {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const outcome = text(item.outcome) as ToolRecord['outcome'];
  return {
    toolUseId: String(item.toolUseId ?? String(item.sk).split('#').at(-1)),
    name: String(item.name ?? ''),
    // Records written before the `tool_use` block became the one copy of the input still hold it.
    input: item.input ? (JSON.parse(String(item.input)) as Record<string, unknown>) : undefined,
    inputHash: String(item.inputHash ?? ''),
    // The record lies under its actor's key (older records also held it as a field).
    actor: String(item.actor ?? String(item.pk).slice(keys.user('').length)),
    connection: String(item.connection ?? ''),
    startedAt: text(item.startedAt),
    finishedAt: text(item.finishedAt),
    outcome,
    result: text(item.result),
    isError: typeof item.isError === 'boolean' ? item.isError : outcome !== undefined && outcome !== 'succeeded',
    executionId: text(item.executionId),
    durationMs: typeof item.durationMs === 'number' ? item.durationMs : undefined,
    decision: item.decision as ToolRecord['decision'],
  };
}
