/**
 * In-memory fakes of the domain's ports (`functions/core/ports.ts`), faithful to their contracts
 * and to the DynamoDB / Scalekit adapters' conditional writes, so the unit tests exercise the same
 * races and refusals the real stores produce. Plus builders for the use cases' dependencies.
 */
import type { ChatDeps, ChatSettings } from '../../functions/core/chat';
import type { ConnectionSettings, ConnectionsDeps } from '../../functions/core/connections';
import { expect } from 'vitest';
import { DomainError, UpstreamError } from '../../functions/core/errors';
import { fitWindow } from '../../functions/core/history';
import {
  type ChatModel,
  type Clock,
  type ConnectedAccountInfo,
  type ConnectedAccounts,
  type ConnectionStatus,
  type ConnectionStore,
  type ContentBlock,
  type ConversationHeader,
  type ConversationPage,
  type ConversationStore,
  type CrashPoint,
  type Faults,
  type HeaderChanges,
  type Lease,
  LeaseUnavailable,
  type LinkState,
  type Message,
  type ModelResponse,
  type PinnedAccount,
  type RegistryEntry,
  type StateClaim,
  type StoredMessage,
  type ToolDecision,
  type ToolDefinition,
  type ToolExecution,
  type ToolFinish,
  type ToolRecord,
  type ToolResultBlock,
  type ToolUseBlock,
  type Usage,
  type VerifiedResult,
} from '../../functions/core/ports';

/** What a store hands out is a copy, as a database read would be. */
const copy = <T>(value: T): T => structuredClone(value);

/** A promise with its resolver, to hold a fake in the middle of a call. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every already-queued callback and promise continuation run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

// ─── Clock ──────────────────────────────────────────────────────────────────────────────────

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private current = Date.parse('2026-11-25T18:00:00.000Z')) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

// ─── Connected accounts (Scalekit) ──────────────────────────────────────────────────────────

/** A tool's behaviour in the fake: what Asana would answer for this caller and input. */
export type ToolHandler = (call: { identifier: string; input: Record<string, unknown> }) => ToolExecution | Promise<ToolExecution>;

/** One call to the fake, as Scalekit would have logged it. */
export interface AccountsCall {
  readonly method: keyof ConnectedAccounts;
  readonly identifier?: string;
  readonly connection?: string;
  readonly toolName?: string;
}

/** One tool execution that reached "Asana" (the account was ACTIVE). */
export interface ExecutionLog {
  readonly identifier: string;
  readonly connection: string;
  readonly toolName: string;
  readonly input: Record<string, unknown>;
}

interface FakeAccount {
  id: string;
  identifier: string;
  connection: string;
  status: Exclude<ConnectionStatus, 'NOT_CONNECTED'>;
}

/**
 * Scalekit connected accounts in memory: per-identifier accounts and statuses, a tool catalog
 * with scripted behaviour, authorization requests bound to the identifier that consented, and
 * a log of every call and every execution.
 */
export class FakeConnectedAccounts implements ConnectedAccounts {
  readonly calls: AccountsCall[] = [];
  /** Executions that ran at "Asana" (in the order they finished). */
  readonly executions: ExecutionLog[] = [];
  /** Executions handed to a scripted tool, in the order they started. */
  readonly started: ExecutionLog[] = [];
  readonly links: { identifier: string; connection: string; state: string; verifyUrl: string; url: string }[] = [];
  /** The Asana user each identifier's grant belongs to (what `asana_me_get` answers). */
  readonly profiles = new Map<string, PinnedAccount>();
  private readonly accounts = new Map<string, FakeAccount>();
  private readonly handlers = new Map<string, ToolHandler>();
  private readonly authRequests = new Map<string, { identifier: string; connection: string; used: boolean }>();
  /** Errors to throw from the next calls of a method (upstream outages). */
  private readonly failures = new Map<keyof ConnectedAccounts, unknown[]>();
  private sequence = 0;
  /** Accounts per page of `list`. */
  pageSize = 2;

  constructor(readonly catalog: Readonly<Record<string, readonly ToolDefinition[]>> = { asana: DEFAULT_TOOLS }) {
    this.onTool('asana_me_get', ({ identifier }) => {
      const profile = this.profiles.get(identifier);
      return profile
        ? { kind: 'succeeded', data: { data: { ...profile, resource_type: 'user' } }, executionId: this.nextId('exec') }
        : { kind: 'failed', message: 'Not Found' };
    });
  }

  private nextId(prefix: string): string {
    this.sequence += 1;
    return `${prefix}_${this.sequence}`;
  }

  private key(identifier: string, connection: string): string {
    return `${connection}\u0000${identifier}`;
  }

  /** Puts (or moves) an identifier's account in a status, as Scalekit would hold it. */
  setStatus(identifier: string, status: FakeAccount['status'], connection = 'asana'): FakeAccount {
    const existing = this.accounts.get(this.key(identifier, connection));
    if (existing) {
      existing.status = status;
      return existing;
    }
    const account = { id: this.nextId('ca'), identifier, connection, status };
    this.accounts.set(this.key(identifier, connection), account);
    return account;
  }

  statusOf(identifier: string, connection = 'asana'): ConnectionStatus {
    return this.accounts.get(this.key(identifier, connection))?.status ?? 'NOT_CONNECTED';
  }

  /** The user consents in Asana: Scalekit issues an auth request bound to *this* identifier. */
  consent(identifier: string, connection = 'asana'): string {
    const account = this.setStatus(identifier, 'PENDING_VERIFICATION', connection);
    const authRequestId = this.nextId('ar');
    this.authRequests.set(authRequestId, { identifier: account.identifier, connection, used: false });
    return authRequestId;
  }

  /** Scripts a tool's behaviour (for every caller). */
  onTool(name: string, handler: ToolHandler): void {
    this.handlers.set(name, handler);
  }

  /** The next `times` calls of `method` throw `error` (default: an upstream outage). */
  failNext(
    method: keyof ConnectedAccounts,
    error: unknown = new UpstreamError('unavailable', 'scalekit', 'Scalekit is unavailable'),
    times = 1,
  ): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.failures.set(method, queue);
  }

  private enter(call: AccountsCall): void {
    this.calls.push(call);
    const error = this.failures.get(call.method)?.shift();
    if (error !== undefined) throw error;
  }

  private info(account: FakeAccount): ConnectedAccountInfo {
    return { id: account.id, identifier: account.identifier, connection: account.connection, status: account.status };
  }

  callsOf(method: keyof ConnectedAccounts): AccountsCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  executionsOf(toolName: string): ExecutionLog[] {
    return this.executions.filter((execution) => execution.toolName === toolName);
  }

  async getOrCreate(identifier: string, connection: string): Promise<ConnectedAccountInfo> {
    this.enter({ method: 'getOrCreate', identifier, connection });
    const existing = this.accounts.get(this.key(identifier, connection));
    return this.info(existing ?? this.setStatus(identifier, 'PENDING_AUTH', connection));
  }

  async get(identifier: string, connection: string): Promise<ConnectedAccountInfo | undefined> {
    this.enter({ method: 'get', identifier, connection });
    const account = this.accounts.get(this.key(identifier, connection));
    return account ? this.info(account) : undefined;
  }

  /** When Scalekit says a link expires (epoch ms); undefined: it does not say. */
  linkExpiresAt: number | undefined = undefined;

  async authorizationLink(
    identifier: string,
    connection: string,
    options: { state: string; verifyUrl: string },
  ): Promise<{ url: string; expiresAt?: number }> {
    this.enter({ method: 'authorizationLink', identifier, connection });
    const url = `https://scalekit.test/magic/${connection}?identifier=${encodeURIComponent(identifier)}&state=${encodeURIComponent(options.state)}&n=${this.links.length}`;
    this.links.push({ identifier, connection, state: options.state, verifyUrl: options.verifyUrl, url });
    return { url, expiresAt: this.linkExpiresAt };
  }

  async verify(identifier: string, authRequestId: string): Promise<'verified' | 'refused'> {
    this.enter({ method: 'verify', identifier });
    const request = this.authRequests.get(authRequestId);
    if (!request || request.used || request.identifier !== identifier) return 'refused';
    request.used = true;
    this.setStatus(identifier, 'ACTIVE', request.connection);
    return 'verified';
  }

  async delete(identifier: string, connection: string): Promise<void> {
    this.enter({ method: 'delete', identifier, connection });
    this.accounts.delete(this.key(identifier, connection));
  }

  async list(connection: string, pageToken?: string): Promise<{ accounts: ConnectedAccountInfo[]; nextPageToken?: string }> {
    this.enter({ method: 'list', connection });
    const all = [...this.accounts.values()].filter((account) => account.connection === connection);
    const start = pageToken === undefined ? 0 : Number(pageToken);
    const end = start + this.pageSize;
    return {
      accounts: all.slice(start, end).map((account) => this.info(account)),
      ...(end < all.length ? { nextPageToken: String(end) } : {}),
    };
  }

  async listTools(identifier: string, connections: readonly string[]): Promise<ToolDefinition[]> {
    this.enter({ method: 'listTools', identifier });
    return connections.flatMap((connection) => {
      const account = this.accounts.get(this.key(identifier, connection));
      return account?.status === 'ACTIVE' ? copy([...(this.catalog[connection] ?? [])]) : [];
    });
  }

  async execute(identifier: string, connection: string, toolName: string, input: Record<string, unknown>): Promise<ToolExecution> {
    this.enter({ method: 'execute', identifier, connection, toolName });
    const account = this.accounts.get(this.key(identifier, connection));
    if (account?.status !== 'ACTIVE') return { kind: 'not_authorized', message: 'The connected account is not active.' };
    if (!(this.catalog[connection] ?? []).some((tool) => tool.name === toolName)) {
      return { kind: 'failed', message: `Unknown tool ${toolName}` };
    }
    const handler = this.handlers.get(toolName);
    const log = { identifier, connection, toolName, input: copy(input) };
    if (!handler) {
      this.executions.push(log);
      return { kind: 'succeeded', data: { data: [] }, executionId: this.nextId('exec') };
    }
    this.started.push(log);
    const result = await handler({ identifier, input: copy(input) });
    // Refused before it ran (Asana 401 after a failed refresh): nothing happened upstream.
    if (result.kind !== 'not_authorized') this.executions.push(log);
    return result;
  }
}

const tool = (name: string, description: string): ToolDefinition => ({
  name,
  description,
  input_schema: { type: 'object', properties: {}, required: [] },
});

/** A small Asana catalog: reads, writes, and one tool no deployment allowlists. */
export const DEFAULT_TOOLS: readonly ToolDefinition[] = [
  tool('asana_me_get', 'Get the Asana user this connection acts as.'),
  tool('asana_tasks_list', 'List tasks.'),
  tool('asana_task_get', 'Get a task.'),
  tool('asana_task_create', 'Create a task.'),
  tool('asana_story_create', 'Comment on a task.'),
  tool('asana_task_delete', 'Delete a task.'),
  tool('asana_workspace_purge', 'Not on any allowlist.'),
];

// ─── Connection store ───────────────────────────────────────────────────────────────────────

/** A verify that crashed between claim and completion gives its claim up after this long (as the adapter). */
const STALE_CLAIM_MS = 60_000;

interface StoredState extends LinkState {
  stateStatus: 'issued' | 'claimed' | 'used';
  result?: VerifiedResult;
  authRequestId?: string;
  claimedAt?: number;
}

/** The registry and link states, keyed by the caller's `sub`, with the adapter's conditions. */
export class FakeConnectionStore implements ConnectionStore {
  private readonly entries = new Map<string, Map<string, RegistryEntry>>();
  private readonly states = new Map<string, Map<string, StoredState>>();
  /** Every write of a registry entry (to prove a repeated status check writes nothing). */
  entryWrites = 0;

  private entriesOf(sub: string): Map<string, RegistryEntry> {
    let map = this.entries.get(sub);
    if (!map) this.entries.set(sub, (map = new Map()));
    return map;
  }

  private statesOf(sub: string): Map<string, StoredState> {
    let map = this.states.get(sub);
    if (!map) this.states.set(sub, (map = new Map()));
    return map;
  }

  /** A state as stored (for assertions). */
  stateOf(sub: string, state: string): Readonly<StoredState> | undefined {
    const stored = this.statesOf(sub).get(state);
    return stored ? copy(stored) : undefined;
  }

  /** Every state issued to a user. */
  statesFor(sub: string): Readonly<StoredState>[] {
    return [...this.statesOf(sub).values()].map(copy);
  }

  async getEntry(sub: string, connection: string): Promise<RegistryEntry | undefined> {
    const entry = this.entriesOf(sub).get(connection);
    return entry ? copy(entry) : undefined;
  }

  async listEntries(sub: string): Promise<RegistryEntry[]> {
    return [...this.entriesOf(sub).values()].map(copy);
  }

  async putEntry(sub: string, entry: RegistryEntry): Promise<void> {
    this.entryWrites++;
    this.entriesOf(sub).set(entry.connection, copy(entry));
  }

  /** Every attempted status write, refused or not (a refused conditional write costs like one). */
  statusWriteAttempts = 0;

  async statusesOf(subs: readonly string[], connection: string): Promise<Map<string, ConnectionStatus>> {
    const statuses = new Map<string, ConnectionStatus>();
    for (const sub of subs) {
      const entry = this.entriesOf(sub).get(connection);
      if (entry) statuses.set(sub, entry.status);
    }
    return statuses;
  }

  async recordStatus(
    sub: string,
    connection: string,
    seen: { status: ConnectionStatus; connectedAccountId?: string; checkedAt: string; touch?: boolean },
  ): Promise<boolean> {
    this.statusWriteAttempts++;
    const entries = this.entriesOf(sub);
    const existing = entries.get(connection);
    const accountId = seen.connectedAccountId ? { connectedAccountId: seen.connectedAccountId } : {};
    if (!existing || existing.status !== seen.status) {
      this.entryWrites++;
      entries.set(connection, {
        ...existing,
        connection,
        status: seen.status,
        checkedAt: seen.checkedAt,
        changedAt: seen.checkedAt,
        ...accountId,
      });
      return true;
    }
    if (seen.touch === false) return false;
    if (existing.checkedAt < seen.checkedAt) {
      this.entryWrites++;
      entries.set(connection, { ...existing, checkedAt: seen.checkedAt, ...accountId });
    }
    return false;
  }

  async deleteEntry(sub: string, connection: string): Promise<void> {
    this.entriesOf(sub).delete(connection);
  }

  async putState(sub: string, state: LinkState): Promise<void> {
    const states = this.statesOf(sub);
    if (states.has(state.state)) throw new Error('ConditionalCheckFailedException: state exists');
    states.set(state.state, { ...copy(state), stateStatus: 'issued' });
  }

  async claimState(sub: string, state: string, connection: string, authRequestId: string, now: number): Promise<StateClaim> {
    const stored = this.statesOf(sub).get(state);
    if (
      stored &&
      stored.connection === connection &&
      stored.expiresAt > now &&
      (stored.stateStatus === 'issued' || (stored.stateStatus === 'claimed' && (stored.claimedAt ?? 0) < now - STALE_CLAIM_MS))
    ) {
      stored.stateStatus = 'claimed';
      stored.authRequestId = authRequestId;
      stored.claimedAt = now;
      return { kind: 'claimed' };
    }
    if (stored?.stateStatus === 'used' && stored.authRequestId === authRequestId && stored.connection === connection) {
      return { kind: 'already_verified', result: stored.result };
    }
    return { kind: 'refused' };
  }

  async completeState(sub: string, state: string, authRequestId: string, result: VerifiedResult): Promise<void> {
    const stored = this.statesOf(sub).get(state);
    if (stored?.stateStatus !== 'claimed' || stored.authRequestId !== authRequestId) {
      throw new Error('ConditionalCheckFailedException: state not claimed by this request');
    }
    stored.stateStatus = 'used';
    stored.result = result;
  }

  async releaseState(sub: string, state: string, authRequestId: string): Promise<void> {
    const stored = this.statesOf(sub).get(state);
    if (stored?.stateStatus !== 'claimed' || stored.authRequestId !== authRequestId) return;
    stored.stateStatus = 'issued';
    delete stored.authRequestId;
    delete stored.claimedAt;
  }
}

// ─── Conversation store ─────────────────────────────────────────────────────────────────────

interface StoredConversation {
  header: ConversationHeader;
  lease?: { id: string; expiresAt: number };
  messages: StoredMessage[];
  tools: Map<string, ToolRecord>;
}

const lostLease = (id: string) =>
  new DomainError('conversation_busy', 'This request lost its hold on the conversation to another request.', [], { conversationId: id });

/** Applies header changes as the adapter's `SET` does: undefined fields are left alone. */
function applyChanges(header: ConversationHeader, changes: HeaderChanges): ConversationHeader {
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  return { ...header, ...copy(defined) };
}

/**
 * Conversations in memory with the DynamoDB adapter's conditions: a lease that is taken only when
 * free or expired, appends conditional on the lease and `messageCount === seq`, tool starts that
 * happen once, decisions recorded once against the stored input's hash.
 */
export class FakeConversationStore implements ConversationStore {
  private readonly users = new Map<string, Map<string, StoredConversation>>();

  private conversationsOf(sub: string): Map<string, StoredConversation> {
    let map = this.users.get(sub);
    if (!map) this.users.set(sub, (map = new Map()));
    return map;
  }

  private find(sub: string, id: string): StoredConversation | undefined {
    return this.conversationsOf(sub).get(id);
  }

  /** Who holds the lease now (for assertions). */
  leaseOf(sub: string, id: string): { id: string; expiresAt: number } | undefined {
    const lease = this.find(sub, id)?.lease;
    return lease ? { ...lease } : undefined;
  }

  /** Every tool record of a conversation, as stored (for assertions). */
  recordsOf(sub: string, id: string): ToolRecord[] {
    return [...(this.find(sub, id)?.tools.values() ?? [])].map(copy);
  }

  async create(sub: string, header: ConversationHeader, first: StoredMessage, lease: Lease): Promise<void> {
    const conversations = this.conversationsOf(sub);
    if (conversations.has(header.id)) throw new Error('TransactionCanceledException: conversation exists');
    conversations.set(header.id, {
      header: copy(header),
      lease: { id: lease.id, expiresAt: lease.expiresAt },
      messages: [copy(first)],
      tools: new Map(),
    });
  }

  async acquire(sub: string, id: string, lease: Lease): Promise<ConversationHeader | undefined> {
    const conversation = this.find(sub, id);
    if (!conversation) return undefined;
    if (conversation.lease && !(conversation.lease.expiresAt < lease.now)) throw new LeaseUnavailable();
    conversation.lease = { id: lease.id, expiresAt: lease.expiresAt };
    return copy(conversation.header);
  }

  async release(sub: string, id: string, leaseId: string): Promise<void> {
    const conversation = this.find(sub, id);
    if (conversation?.lease?.id === leaseId) delete conversation.lease;
  }

  async get(sub: string, id: string): Promise<ConversationHeader | undefined> {
    const conversation = this.find(sub, id);
    return conversation ? copy(conversation.header) : undefined;
  }

  async list(sub: string, limit: number, nextToken: string | undefined): Promise<ConversationPage> {
    const newestFirst = [...this.conversationsOf(sub).keys()].sort().reverse();
    const after = nextToken === undefined ? newestFirst : newestFirst.filter((id) => id < nextToken);
    const page = after.slice(0, limit);
    return {
      items: page.map((id) => copy(this.find(sub, id)!.header)),
      nextToken: page.length === limit && after.length > limit ? page.at(-1)! : null,
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
      throw lostLease(id);
    }
    conversation.messages.push(copy(message));
    conversation.header = applyChanges(conversation.header, changes);
  }

  async update(sub: string, id: string, leaseId: string, changes: HeaderChanges): Promise<void> {
    const conversation = this.find(sub, id);
    if (!conversation || conversation.lease?.id !== leaseId) throw lostLease(id);
    conversation.header = applyChanges(conversation.header, changes);
  }

  async window(sub: string, id: string, tokenBudget: number): Promise<StoredMessage[]> {
    return fitWindow(copy(this.find(sub, id)?.messages ?? []), tokenBudget);
  }

  async messages(sub: string, id: string): Promise<StoredMessage[]> {
    return copy(this.find(sub, id)?.messages ?? []);
  }

  async toolRecords(sub: string, id: string, toolUseIds?: readonly string[]): Promise<ToolRecord[]> {
    const tools = this.find(sub, id)?.tools ?? new Map<string, ToolRecord>();
    if (toolUseIds === undefined) return [...tools.keys()].sort().map((key) => copy(tools.get(key)!));
    return toolUseIds.flatMap((toolUseId) => {
      const record = tools.get(toolUseId);
      return record ? [copy(record)] : [];
    });
  }

  private toolsOf(sub: string, id: string): Map<string, ToolRecord> {
    const conversation = this.find(sub, id);
    if (!conversation) throw new Error(`no conversation ${id}`);
    return conversation.tools;
  }

  async proposeTool(sub: string, id: string, record: ToolRecord): Promise<void> {
    const tools = this.toolsOf(sub, id);
    if (!tools.has(record.toolUseId)) tools.set(record.toolUseId, copy(record));
  }

  async decideTool(sub: string, id: string, toolUseId: string, decision: ToolDecision): Promise<boolean> {
    const tools = this.toolsOf(sub, id);
    const record = tools.get(toolUseId);
    if (!record || record.decision !== undefined || record.inputHash !== decision.inputHash) return false;
    tools.set(toolUseId, { ...record, decision: copy(decision) });
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
    return true;
  }

  async unstartTool(sub: string, id: string, toolUseId: string): Promise<void> {
    const tools = this.toolsOf(sub, id);
    const existing = tools.get(toolUseId);
    if (!existing || existing.outcome !== undefined) return;
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
  }

  async delete(sub: string, id: string, leaseId: string): Promise<boolean> {
    const conversation = this.find(sub, id);
    if (!conversation) return false;
    if (conversation.lease?.id !== leaseId) throw lostLease(id);
    this.conversationsOf(sub).delete(id);
    return true;
  }
}

// ─── Model ──────────────────────────────────────────────────────────────────────────────────

export type ModelRequest = Parameters<ChatModel['complete']>[0];
/** A scripted turn: a response, or a function of the request (may wait, may throw). */
export type ModelTurn = ModelResponse | ((request: ModelRequest) => ModelResponse | Promise<ModelResponse>);

/** Claude, scripted: answers queued turns in order and records every request it got. */
export class ScriptedModel implements ChatModel {
  readonly requests: ModelRequest[] = [];
  private readonly turns: ModelTurn[] = [];
  /** Answers when the queue is empty (e.g. "always ask for a tool"). */
  fallback: ModelTurn | undefined;

  constructor(...turns: ModelTurn[]) {
    this.turns.push(...turns);
  }

  queue(...turns: ModelTurn[]): void {
    this.turns.push(...turns);
  }

  get remaining(): number {
    return this.turns.length;
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(copy(request));
    const turn = this.turns.shift() ?? this.fallback;
    if (turn === undefined) throw new Error(`the scripted model has no turn left (request ${this.requests.length})`);
    return copy(typeof turn === 'function' ? await turn(request) : turn);
  }
}

export const usage = (inputTokens = 10, outputTokens = 5, cacheCreationInputTokens = 0, cacheReadInputTokens = 0): Usage => ({
  inputTokens,
  outputTokens,
  cacheCreationInputTokens,
  cacheReadInputTokens,
});

export const textBlock = (text: string): ContentBlock => ({ type: 'text', text });
export const toolUseBlock = (id: string, name: string, input: Record<string, unknown> = {}): ContentBlock => ({
  type: 'tool_use',
  id,
  name,
  input,
});

/** Claude answers with text and ends its turn (or stops for `stopReason`). */
export const says = (text: string, stopReason = 'end_turn', tokens: Usage = usage()): ModelResponse => ({
  content: [textBlock(text)],
  stopReason,
  usage: tokens,
});

/** Claude asks for tools (`[id, name, input]` each), optionally after some text. */
export const callsTools = (
  uses: readonly (readonly [string, string, Record<string, unknown>?])[],
  options: { text?: string; usage?: Usage } = {},
): ModelResponse => ({
  content: [...(options.text ? [textBlock(options.text)] : []), ...uses.map(([id, name, input]) => toolUseBlock(id, name, input ?? {}))],
  stopReason: 'tool_use',
  usage: options.usage ?? usage(),
});

// ─── Faults ─────────────────────────────────────────────────────────────────────────────────

/** The error a simulated crash throws. */
export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

/**
 * Crashes the run at one named point. After the crash the process is "dead": every later
 * checkpoint throws too, so nothing past it (notably releasing the lease) happens.
 */
export class CrashAt implements Faults {
  private crashed = false;
  private armed: CrashPoint | undefined;

  arm(point: CrashPoint): void {
    this.armed = point;
    this.crashed = false;
  }

  /** The process dies right here (e.g. in the middle of a tool call): every later checkpoint throws. */
  die(): SimulatedCrash {
    this.crashed = true;
    return new SimulatedCrash('the process died');
  }

  /** A new process: no fault armed. */
  recover(): void {
    this.armed = undefined;
    this.crashed = false;
  }

  checkpoint(point: CrashPoint): void {
    if (this.crashed) throw new SimulatedCrash(`dead process (at ${point})`);
    if (point === this.armed) {
      this.crashed = true;
      throw new SimulatedCrash(`crash at ${point}`);
    }
  }
}

// ─── Dependencies ───────────────────────────────────────────────────────────────────────────

export const DEFAULT_VERIFY_URL = 'https://console.onbehalf.test/connections/verify';
export const WEB_ORIGIN = 'https://console.onbehalf.test';

export const connectionSettings = (overrides: Partial<ConnectionSettings> = {}): ConnectionSettings => ({
  connections: ['asana'],
  stateTtlSeconds: 600,
  defaultVerifyUrl: DEFAULT_VERIFY_URL,
  webOrigin: WEB_ORIGIN,
  ...overrides,
});

/** The connections use cases over fresh fakes. */
export function connectionsWorld(overrides: Partial<ConnectionSettings> = {}) {
  const accounts = new FakeConnectedAccounts();
  const store = new FakeConnectionStore();
  const clock = new ManualClock();
  let states = 0;
  const deps: ConnectionsDeps = {
    accounts,
    store,
    clock,
    newState: () => `state-${++states}`,
    settings: connectionSettings(overrides),
  };
  return { deps, accounts, store, clock };
}

export const chatSettings = (overrides: Partial<ChatSettings> = {}): ChatSettings => ({
  connections: ['asana'],
  toolAllowlist: ['asana_me_get', 'asana_tasks_list', 'asana_task_get', 'asana_task_create', 'asana_story_create', 'asana_task_delete'],
  toolPolicy: {},
  modelCallBudget: 20,
  timeBudgetMs: 25_000,
  leaseMs: 60_000,
  historyTokenBudget: 100_000,
  toolResultMaxBytes: 16_384,
  systemPrompt: 'You act in Asana for the user.',
  ...overrides,
});

/** The chat use cases over fresh fakes; the caller's account starts ACTIVE unless told otherwise. */
export function chatWorld(options: { settings?: Partial<ChatSettings>; model?: ScriptedModel } = {}) {
  const connections = connectionsWorld();
  const { accounts, clock } = connections;
  const conversations = new FakeConversationStore();
  const model = options.model ?? new ScriptedModel();
  const faults = new CrashAt();
  let ids = 0;
  let leases = 0;
  const deps: ChatDeps = {
    store: conversations,
    accounts,
    model,
    clock,
    newConversationId: () => `c_${clock.now().toString(36).padStart(10, '0').slice(-10)}${(++ids).toString(16).padStart(12, '0')}`,
    newLeaseId: () => `lease-${++leases}`,
    connections: connections.deps,
    settings: chatSettings(options.settings),
    faults,
  };
  return { deps, accounts, conversations, model, clock, faults, connectionStore: connections.store };
}

/** The messages of a request as plain `{role, content}`, for comparing histories. */
export const plain = (messages: readonly Message[]): Message[] => messages.map(({ role, content }) => ({ role, content }));

/** Runs `act` and returns the DomainError it threw (fails the test if it threw none, or another kind). */
export async function domainError(act: () => unknown): Promise<DomainError> {
  try {
    await act();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('expected a DomainError, but nothing was thrown');
}

/**
 * Asserts the Messages API pairing rule over a history: every assistant `tool_use` is answered,
 * in order and completely, by the very next (user) message's `tool_result` blocks, and no
 * `tool_result` appears anywhere else. The history starts with the user's words.
 */
export function expectPaired(messages: readonly Message[]): void {
  expect(messages[0]?.role).toBe('user');
  expect(messages[0]?.content.some((block) => block.type === 'tool_result')).toBe(false);
  messages.forEach((message, index) => {
    const uses = toolUseIds(message);
    const results = toolResultIds(message);
    if (message.role === 'assistant') expect(results).toEqual([]);
    if (uses.length > 0) {
      const next = messages[index + 1];
      if (next === undefined) return; // the newest message may still await its results
      expect(next.role).toBe('user');
      expect(next.content.map((block) => (isToolResult(block) ? block.tool_use_id : block.type))).toEqual(uses);
    }
    if (results.length > 0) {
      const previous = messages[index - 1];
      expect(previous?.role).toBe('assistant');
      expect(previous ? toolUseIds(previous) : []).toEqual(results);
    }
  });
}

export const isToolUse = (block: ContentBlock): block is ToolUseBlock => block.type === 'tool_use';
export const isToolResult = (block: ContentBlock): block is ToolResultBlock => block.type === 'tool_result';
export const toolUseIds = (message: Message): string[] => message.content.filter(isToolUse).map((block) => block.id);
export const toolResultIds = (message: Message): string[] => message.content.filter(isToolResult).map((block) => block.tool_use_id);
