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
  type ToolFinish,
  BadPageToken,
  expiryOf,
  isExpired,
  LeaseLost,
  type Retention,
} from '../../functions/core/ports';
import { copy } from './copy';

interface StoredConversation {
  header: ConversationHeader;
  lease?: { id: string; expiresAt: number };
  messages: StoredMessage[];
  tools: Map<string, ToolRecord>;
  /** The `ttl` of each item, by kind: `CONV`, `MSG#<seq>`, `TOOL#<toolUseId>`. */
  ttls: Map<string, number>;
}

/** A header as the adapter reads it back: `truncated` is always a boolean. */
const readHeader = (header: ConversationHeader): ConversationHeader => copy({ ...header, truncated: header.truncated === true });

/** A tool record as the adapter reads it back: `isError` is always a boolean. */
const readRecord = (record: ToolRecord): ToolRecord => copy({ ...record, isError: record.isError === true });

/** Page tokens as the adapter issues them: the last key read, encoded; anything else is refused. */
const encodeToken = (id: string): string => Buffer.from(`CONV#${id}`, 'utf8').toString('base64url');
function decodeToken(token: string): string {
  const sk = Buffer.from(token, 'base64url').toString('utf8');
  if (!sk.startsWith('CONV#') || !isConversationId(sk.slice('CONV#'.length))) throw new BadPageToken();
  return sk.slice('CONV#'.length);
}

/** Applies header changes as the adapter's `SET` does: undefined fields are left alone. */
function applyChanges(header: ConversationHeader, changes: Omit<HeaderChanges, 'leaseExpiresAt'>): ConversationHeader {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  return { ...header, ...copy(defined) };
}

/** A held conversation's header changes; `leaseExpiresAt` moves the lease, as the adapter's `SET` of the same attribute does. */
function applyTo(conversation: StoredConversation, { leaseExpiresAt, ...changes }: HeaderChanges): void {
  conversation.header = applyChanges(conversation.header, changes);
  if (leaseExpiresAt !== undefined && conversation.lease) conversation.lease.expiresAt = leaseExpiresAt;
}

/**
 * Conversations in memory with the DynamoDB adapter's conditions: a lease that is taken only when
 * free or expired, appends conditional on the lease and `messageCount === seq`, tool starts that
 * happen once, decisions recorded once against the stored input's hash, and each item's `ttl` set
 * on every write and checked on every read.
 */
export class FakeConversationStore implements ConversationStore {
  private readonly users = new Map<string, Map<string, StoredConversation>>();

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

  /** Every tool record of a conversation, as stored (for assertions). */
  recordsOf(sub: string, id: string): ToolRecord[] {
    return [...(this.find(sub, id)?.tools.values() ?? [])].map(readRecord);
  }

  async create(sub: string, header: ConversationHeader, first: StoredMessage, lease: Lease): Promise<void> {
    const conversations = this.conversationsOf(sub);
    if (conversations.has(header.id)) throw new Error('TransactionCanceledException: conversation exists');
    const conversation: StoredConversation = {
      header: copy(header),
      lease: { id: lease.id, expiresAt: lease.expiresAt },
      messages: [copy(first)],
      tools: new Map(),
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

  async append(sub: string, id: string, leaseId: string, message: StoredMessage, changes: HeaderChanges): Promise<void> {
    const conversation = this.find(sub, id);
    if (
      !conversation ||
      conversation.lease?.id !== leaseId ||
      conversation.header.messageCount !== message.seq ||
      conversation.messages.some((stored) => stored.seq === message.seq)
    ) {
      throw new LeaseLost();
    }
    conversation.messages.push(copy(message));
    applyTo(conversation, changes);
    this.stamp(conversation, `MSG#${message.seq}`);
    this.stamp(conversation, 'CONV');
  }

  async update(sub: string, id: string, leaseId: string, changes: HeaderChanges): Promise<void> {
    const conversation = this.find(sub, id);
    if (!conversation || conversation.lease?.id !== leaseId) throw new LeaseLost();
    applyTo(conversation, changes);
    this.stamp(conversation, 'CONV');
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
    const tools = new Map(
      [...(conversation?.tools ?? [])].filter(([toolUseId]) => conversation && this.live(conversation, `TOOL#${toolUseId}`)),
    );
    if (toolUseIds === undefined) return [...tools.keys()].sort().map((key) => readRecord(tools.get(key)!));
    return toolUseIds.flatMap((toolUseId) => {
      const record = tools.get(toolUseId);
      return record ? [readRecord(record)] : [];
    });
  }

  private toolsOf(sub: string, id: string): Map<string, ToolRecord> {
    const conversation = this.find(sub, id);
    if (!conversation) throw new Error(`no conversation ${id}`);
    return conversation.tools;
  }

  async proposeTool(sub: string, id: string, record: ToolRecord): Promise<void> {
    const tools = this.toolsOf(sub, id);
    if (tools.has(record.toolUseId)) return;
    tools.set(record.toolUseId, copy(record));
    this.stamp(this.find(sub, id)!, `TOOL#${record.toolUseId}`);
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

  async startTool(sub: string, id: string, record: ToolRecord): Promise<boolean> {
    const tools = this.toolsOf(sub, id);
    const existing = tools.get(record.toolUseId);
    if (existing?.startedAt !== undefined) return false;
    tools.set(record.toolUseId, {
      ...existing,
      toolUseId: record.toolUseId,
      name: record.name,
      input: copy(record.input),
      inputHash: record.inputHash,
      actor: record.actor,
      connection: record.connection,
      startedAt: record.startedAt,
    });
    this.stamp(this.find(sub, id)!, `TOOL#${record.toolUseId}`);
    return true;
  }

  async unstartTool(sub: string, id: string, toolUseId: string): Promise<void> {
    const tools = this.find(sub, id)?.tools;
    const existing = tools?.get(toolUseId);
    if (!tools || !existing || existing.outcome !== undefined) return;
    const { startedAt: _startedAt, ...rest } = existing;
    tools.set(toolUseId, rest);
  }

  async finishTool(sub: string, id: string, toolUseId: string, finish: ToolFinish): Promise<void> {
    const tools = this.toolsOf(sub, id);
    const existing = tools.get(toolUseId);
    if (existing?.outcome !== undefined) throw new Error('ConditionalCheckFailedException: tool already finished');
    tools.set(toolUseId, {
      ...existing,
      toolUseId,
      name: finish.name,
      input: copy(finish.input),
      inputHash: finish.inputHash,
      actor: finish.actor,
      connection: finish.connection,
      outcome: finish.outcome,
      result: finish.result,
      isError: finish.isError,
      finishedAt: finish.finishedAt,
      ...(finish.executionId !== undefined ? { executionId: finish.executionId } : {}),
      ...(finish.durationMs !== undefined ? { durationMs: finish.durationMs } : {}),
    });
    this.stamp(this.find(sub, id)!, `TOOL#${toolUseId}`);
  }

  async delete(sub: string, id: string, leaseId: string): Promise<boolean> {
    const conversation = this.findLive(sub, id);
    if (!conversation) return false;
    if (conversation.lease?.id !== leaseId) throw new LeaseLost();
    this.conversationsOf(sub).delete(id);
    return true;
  }
}
