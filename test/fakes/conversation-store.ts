import { fitWindow, intactHistory } from '../../functions/core/history';
import {
  type ConversationHeader,
  isConversationId,
  type StoredMessage,
  type ToolDecision,
  type ToolRecord,
} from '../../functions/core/domain';
import {
  type ConversationPage,
  type ConversationStore,
  type HeaderChanges,
  type Lease,
  LeaseUnavailable,
  BadPageToken,
  expiryOf,
  isExpired,
  LeaseLost,
  type Retention,
  type ToolStart,
  type WriteOptions,
} from '../../functions/core/ports';
import type { RunStatus, Usage } from '../../functions/core/domain';
import { copy } from './copy';

const ZERO: Usage = { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };

interface StoredConversation {
  header: ConversationHeader;
  lease?: { id: string; expiresAt: number };
  messages: StoredMessage[];
  tools: Map<string, ToolRecord>;
  /** Calls started and not yet ended, as the header marks them: their start time. */
  starts: Map<string, string>;
  /** The `ttl` of each item, by kind: `CONV`, `MSG#<seq>`, `TOOL#<toolUseId>`. */
  ttls: Map<string, number>;
}

/** A header as the adapter reads it back: `truncated` is always a boolean. */
const readHeader = (header: ConversationHeader): ConversationHeader => copy({ ...header, truncated: header.truncated === true });

/** A tool record as the adapter reads it back: `isError` is always a boolean. */
const readRecord = (record: ToolRecord): ToolRecord => copy({ ...record, isError: record.isError === true });

/**
 * The records of these calls as the adapter reads them: one started and not yet ended has its
 * start time (and, without a record of its own, a record of just that).
 */
function withStarts(conversation: StoredConversation, toolUseIds: readonly string[]): ToolRecord[] {
  return toolUseIds.flatMap((toolUseId) => {
    const record = conversation.tools.get(toolUseId);
    const startedAt = record?.outcome === undefined ? conversation.starts.get(toolUseId) : undefined;
    if (startedAt !== undefined) {
      return [readRecord({ ...(record ?? { toolUseId, name: '', inputHash: '', actor: '', connection: '' }), startedAt })];
    }
    return record ? [readRecord(record)] : [];
  });
}

/** Page tokens as the adapter issues them: the last key read, encoded; anything else is refused. */
const encodeToken = (id: string): string => Buffer.from(`CONV#${id}`, 'utf8').toString('base64url');
function decodeToken(token: string): string {
  const sk = Buffer.from(token, 'base64url').toString('utf8');
  if (!sk.startsWith('CONV#') || !isConversationId(sk.slice('CONV#'.length))) throw new BadPageToken();
  return sk.slice('CONV#'.length);
}

/** Adds usage field by field, as the adapter's `SET usage.x = usage.x + :x` does. */
const added = (total: Usage, more: Usage): Usage => ({
  inputTokens: total.inputTokens + more.inputTokens,
  outputTokens: total.outputTokens + more.outputTokens,
  cacheCreationInputTokens: total.cacheCreationInputTokens + more.cacheCreationInputTokens,
  cacheReadInputTokens: total.cacheReadInputTokens + more.cacheReadInputTokens,
});

/** Applies header changes as the adapter's `SET` does: undefined fields are left alone, usage is added. */
function applyChanges(header: ConversationHeader, { addUsage, ...changes }: Omit<HeaderChanges, 'leaseExpiresAt'>): ConversationHeader {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  return { ...header, ...copy(defined), ...(addUsage ? { usage: added(header.usage, addUsage) } : {}) };
}

/**
 * A held conversation's header changes; `leaseExpiresAt` moves the lease, as the adapter's `SET`
 * of the same attribute does, and `release` gives it back.
 */
function applyTo(conversation: StoredConversation, { leaseExpiresAt, ...changes }: HeaderChanges, release = false): void {
  conversation.header = applyChanges(conversation.header, changes);
  if (release) delete conversation.lease;
  else if (leaseExpiresAt !== undefined && conversation.lease) conversation.lease.expiresAt = leaseExpiresAt;
}

/**
 * Conversations in memory with the DynamoDB adapter's conditions: a lease that is taken only when
 * free or expired, appends conditional on the lease and `messageCount === seq`, tool starts that
 * happen once, decisions recorded once against the stored input's hash, and each item's `ttl` set
 * on every write and checked on every read.
 */
export class FakeConversationStore implements ConversationStore {
  private readonly users = new Map<string, Map<string, StoredConversation>>();
  /** The tokens charged to each caller's day, by `<sub> <day>`, as the `USAGE#<day>` items hold them. */
  private readonly days = new Map<string, Usage>();

  constructor(private readonly retention: Retention = { days: 90, clock: { now: () => Date.now() } }) {}

  private stamp(conversation: StoredConversation, key: string): void {
    conversation.ttls.set(key, expiryOf(this.retention));
  }

  private live(conversation: StoredConversation, key: string): boolean {
    return !isExpired(conversation.ttls.get(key), this.retention);
  }

  /** The `ttl` of every item of a conversation, by kind: `CONV`, `MSG#<seq>`, `TOOL#<toolUseId>` (for assertions). */
  ttlsOf(sub: string, id: string): Record<string, number> {
    return Object.fromEntries(this.find(sub, id)?.ttls ?? []);
  }

  private conversationsOf(sub: string): Map<string, StoredConversation> {
    let map = this.users.get(sub);
    if (!map) this.users.set(sub, (map = new Map()));
    return map;
  }

  private find(sub: string, id: string): StoredConversation | undefined {
    return this.conversationsOf(sub).get(id);
  }

  /** The conversation, unless its header has expired. */
  private findLive(sub: string, id: string): StoredConversation | undefined {
    const conversation = this.find(sub, id);
    return conversation && this.live(conversation, 'CONV') ? conversation : undefined;
  }

  /** Who holds the lease now (for assertions). */
  leaseOf(sub: string, id: string): { id: string; expiresAt: number } | undefined {
    const lease = this.find(sub, id)?.lease;
    return lease ? { ...lease } : undefined;
  }

  /** The tokens charged to a caller's day with the conversations' writes (for assertions). */
  chargedOn(sub: string, day: string): Usage | undefined {
    return this.days.get(`${sub} ${day}`);
  }

  /** Every tool record of a conversation, as stored (for assertions). */
  recordsOf(sub: string, id: string): ToolRecord[] {
    const conversation = this.find(sub, id);
    return conversation ? withStarts(conversation, [...new Set([...conversation.tools.keys(), ...conversation.starts.keys()])]) : [];
  }

  async create(sub: string, header: ConversationHeader, first: StoredMessage, lease: Lease): Promise<void> {
    const conversations = this.conversationsOf(sub);
    if (conversations.has(header.id)) throw new Error('TransactionCanceledException: conversation exists');
    const conversation: StoredConversation = {
      header: copy(header),
      lease: { id: lease.id, expiresAt: lease.expiresAt },
      messages: [copy(first)],
      tools: new Map(),
      starts: new Map(),
      ttls: new Map(),
    };
    this.stamp(conversation, 'CONV');
    this.stamp(conversation, `MSG#${first.seq}`);
    conversations.set(header.id, conversation);
  }

  async acquire(sub: string, id: string, lease: Lease): Promise<ConversationHeader | undefined> {
    const conversation = this.findLive(sub, id);
    if (!conversation) return undefined;
    if (conversation.lease && !(conversation.lease.expiresAt < lease.now)) throw new LeaseUnavailable();
    conversation.lease = { id: lease.id, expiresAt: lease.expiresAt };
    this.stamp(conversation, 'CONV');
    return readHeader(conversation.header);
  }

  async release(sub: string, id: string, leaseId: string): Promise<void> {
    const conversation = this.find(sub, id);
    if (conversation?.lease?.id === leaseId) delete conversation.lease;
  }

  async get(sub: string, id: string): Promise<ConversationHeader | undefined> {
    const conversation = this.findLive(sub, id);
    return conversation ? readHeader(conversation.header) : undefined;
  }

  async list(sub: string, limit: number, nextToken: string | undefined): Promise<ConversationPage> {
    const newestFirst = [...this.conversationsOf(sub).keys()]
      .filter((id) => this.findLive(sub, id))
      .sort()
      .reverse();
    const from = nextToken === undefined ? undefined : decodeToken(nextToken);
    const after = from === undefined ? newestFirst : newestFirst.filter((id) => id < from);
    const page = after.slice(0, limit);
    return {
      items: page.map((id) => readHeader(this.find(sub, id)!.header)),
      nextToken: page.length === limit && after.length > limit ? encodeToken(page.at(-1)!) : null,
    };
  }

  async acquireWithMessage(
    sub: string,
    id: string,
    lease: Lease,
    message: StoredMessage,
    statuses: readonly RunStatus[],
    changes: HeaderChanges,
  ): Promise<boolean> {
    const conversation = this.findLive(sub, id);
    if (
      !conversation ||
      (conversation.lease && !(conversation.lease.expiresAt < lease.now)) ||
      conversation.header.messageCount !== message.seq ||
      !statuses.includes(conversation.header.status) ||
      conversation.messages.some((stored) => stored.seq === message.seq)
    ) {
      return false;
    }
    conversation.lease = { id: lease.id, expiresAt: lease.expiresAt };
    conversation.messages.push(copy(message));
    applyTo(conversation, changes);
    this.stamp(conversation, `MSG#${message.seq}`);
    this.stamp(conversation, 'CONV');
    return true;
  }

  async append(
    sub: string,
    id: string,
    leaseId: string,
    message: StoredMessage,
    changes: HeaderChanges,
    options: WriteOptions = {},
  ): Promise<void> {
    const conversation = this.find(sub, id);
    if (
      !conversation ||
      conversation.lease?.id !== leaseId ||
      conversation.header.messageCount !== message.seq ||
      conversation.messages.some((stored) => stored.seq === message.seq)
    ) {
      throw new LeaseLost();
    }
    this.checkRiders(conversation, options);
    conversation.messages.push(copy(message));
    applyTo(conversation, changes, options.release);
    this.stamp(conversation, `MSG#${message.seq}`);
    this.stamp(conversation, 'CONV');
    this.applyRiders(sub, conversation, options);
  }

  async update(sub: string, id: string, leaseId: string, changes: HeaderChanges, options: WriteOptions = {}): Promise<void> {
    const conversation = this.find(sub, id);
    if (!conversation || conversation.lease?.id !== leaseId) throw new LeaseLost();
    this.checkRiders(conversation, options);
    applyTo(conversation, changes, options.release);
    this.stamp(conversation, 'CONV');
    this.applyRiders(sub, conversation, options);
  }

  /** What rides with a write fails it whole, as in a transaction: a call recorded as ended twice. */
  private checkRiders(conversation: StoredConversation, options: WriteOptions): void {
    if ((options.finished ?? []).some((finish) => conversation.tools.get(finish.toolUseId)?.outcome !== undefined)) {
      throw new Error('TransactionCanceledException: a tool call already has its outcome');
    }
    // A record written whole is the call's first: there must be none before.
    if ((options.finished ?? []).some((finish) => finish.whole && conversation.tools.has(finish.toolUseId))) {
      throw new Error('TransactionCanceledException: a tool call already has a record');
    }
  }

  private applyRiders(sub: string, conversation: StoredConversation, options: WriteOptions): void {
    const { tools } = conversation;
    for (const base of options.proposed ?? []) {
      tools.set(base.toolUseId, { ...copy(base), ...tools.get(base.toolUseId) });
      this.stamp(conversation, `TOOL#${base.toolUseId}`);
    }
    for (const { whole: _, ...finish } of options.finished ?? []) {
      conversation.starts.delete(finish.toolUseId);
      const defined = Object.fromEntries(Object.entries(finish).filter(([, value]) => value !== undefined));
      tools.set(finish.toolUseId, { ...tools.get(finish.toolUseId), ...copy(defined as unknown as ToolRecord) });
      this.stamp(conversation, `TOOL#${finish.toolUseId}`);
    }
    for (const toolUseId of options.settled ?? []) {
      const record = tools.get(toolUseId);
      if (record) {
        const { result: _, ...rest } = record;
        tools.set(toolUseId, rest);
      }
    }
    if (options.charge) {
      const key = `${sub} ${options.charge.day}`;
      this.days.set(key, added(this.days.get(key) ?? ZERO, options.charge.tokens));
    }
  }

  async window(sub: string, id: string, tokenBudget: number): Promise<StoredMessage[]> {
    return fitWindow(await this.messages(sub, id), tokenBudget);
  }

  async messages(sub: string, id: string): Promise<StoredMessage[]> {
    const conversation = this.find(sub, id);
    if (!conversation) return [];
    return copy(intactHistory(conversation.messages.filter((message) => this.live(conversation, `MSG#${message.seq}`))));
  }

  async toolRecords(sub: string, id: string, toolUseIds?: readonly string[]): Promise<ToolRecord[]> {
    const conversation = this.find(sub, id);
    if (!conversation) return [];
    const live = (toolUseId: string) => conversation.starts.has(toolUseId) || this.live(conversation, `TOOL#${toolUseId}`);
    const ids = toolUseIds ?? [...new Set([...conversation.tools.keys(), ...conversation.starts.keys()])].sort();
    return withStarts(conversation, ids.filter(live));
  }

  async decideTool(sub: string, id: string, toolUseId: string, decision: ToolDecision): Promise<boolean> {
    // A record that is not there (not even its conversation) is not decided, as in the table.
    const tools = this.find(sub, id)?.tools;
    const record = tools?.get(toolUseId);
    if (!tools || !record || record.decision !== undefined || record.inputHash !== decision.inputHash) return false;
    tools.set(toolUseId, { ...record, decision: copy(decision) });
    this.stamp(this.find(sub, id)!, `TOOL#${toolUseId}`);
    return true;
  }

  async startTools(sub: string, id: string, leaseId: string, records: readonly ToolStart[]): Promise<ReadonlySet<string>> {
    const conversation = this.find(sub, id);
    if (!conversation || conversation.lease?.id !== leaseId) throw new LeaseLost();
    const started = new Set<string>();
    // Starts are marked on the header, as the adapter does: only its `ttl` moves.
    this.stamp(conversation, 'CONV');
    for (const record of records) {
      if (conversation.starts.has(record.toolUseId)) continue;
      conversation.starts.set(record.toolUseId, record.startedAt);
      started.add(record.toolUseId);
    }
    return started;
  }

  async unstartTool(sub: string, id: string, toolUseId: string): Promise<void> {
    this.find(sub, id)?.starts.delete(toolUseId);
  }

  async delete(sub: string, id: string, leaseId: string): Promise<boolean> {
    const conversation = this.findLive(sub, id);
    if (!conversation) return false;
    if (conversation.lease?.id !== leaseId) throw new LeaseLost();
    this.conversationsOf(sub).delete(id);
    return true;
  }
}
