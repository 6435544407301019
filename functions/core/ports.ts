/**
 * The ports of the domain: everything `functions/core` needs from the outside world, as
 * interfaces. Adapters in `functions/adapters` implement them with the real SDKs; unit tests
 * implement them in memory.
 */

/** Scalekit's connected-account statuses, plus ours for "no account at all". */
export type ConnectionStatus = 'ACTIVE' | 'PENDING_AUTH' | 'PENDING_VERIFICATION' | 'EXPIRED' | 'DISCONNECTED' | 'NOT_CONNECTED';

/** The upstream account a connection acts as (pinned at verify). */
export interface PinnedAccount {
  readonly name: string;
  readonly email: string;
  readonly gid: string;
}

/** Now, as the domain sees it (tests move it by hand). */
export interface Clock {
  now(): number;
}

/** A connected account as Scalekit reports it — never with its tokens. */
export interface ConnectedAccountInfo {
  readonly id: string;
  readonly identifier: string;
  readonly connection: string;
  readonly status: Exclude<ConnectionStatus, 'NOT_CONNECTED'>;
}

/** A tool as Claude will be given it. */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string;
  readonly input_schema: Record<string, unknown>;
}

/** How one tool execution ended at Scalekit. */
export type ToolExecution =
  | { readonly kind: 'succeeded'; readonly data: unknown; readonly executionId: string }
  /** The tool ran and the provider refused or failed (Asana 403/404, bad input…). */
  | { readonly kind: 'failed'; readonly message: string; readonly executionId?: string }
  /** The account is not usable (not ACTIVE, or refresh failed): the tool did not run. */
  | { readonly kind: 'not_authorized'; readonly message: string };

/**
 * Scalekit connected accounts, always addressed by the caller's identifier (`sub`).
 * Upstream outages throw `UpstreamError`; "not found" is a value, not an error.
 */
export interface ConnectedAccounts {
  getOrCreate(identifier: string, connection: string): Promise<ConnectedAccountInfo>;
  get(identifier: string, connection: string): Promise<ConnectedAccountInfo | undefined>;
  /** A consent link bound to the identifier, state and verify URL; `expiresAt` (epoch ms) when Scalekit says. */
  authorizationLink(
    identifier: string,
    connection: string,
    options: { state: string; verifyUrl: string },
  ): Promise<{ url: string; expiresAt?: number }>;
  /** `refused` when Scalekit will not verify this request for this identifier (not theirs, unknown, used). */
  verify(identifier: string, authRequestId: string): Promise<'verified' | 'refused'>;
  /** Deletes the account (revoking its grant); a missing account is fine. */
  delete(identifier: string, connection: string): Promise<void>;
  /** One page of every account of a connection (for the status checker). */
  list(connection: string, pageToken?: string): Promise<{ accounts: ConnectedAccountInfo[]; nextPageToken?: string }>;
  /** Every page of the identifier's scoped tools for these connections. */
  listTools(identifier: string, connections: readonly string[]): Promise<ToolDefinition[]>;
  execute(identifier: string, connection: string, toolName: string, input: Record<string, unknown>): Promise<ToolExecution>;
}

/** A registry entry (`CONN#<connection>`): what we last knew of a user's connection. Never a token. */
export interface RegistryEntry {
  readonly connection: string;
  readonly status: ConnectionStatus;
  readonly connectedAccountId?: string;
  readonly account?: PinnedAccount;
  /** ISO time of the last check against Scalekit. */
  readonly checkedAt: string;
  /** ISO time the status last changed. */
  readonly changedAt: string;
}

/** A pending authorization link's state (`STATE#<state>`). */
export interface LinkState {
  readonly state: string;
  readonly connection: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** What a successful verify answered, kept with its state so a repeat answers the same. */
export interface VerifiedResult {
  readonly status: ConnectionStatus;
  readonly account: PinnedAccount | null;
  readonly checkedAt: string;
}

/** The outcome of trying to claim a state for a verify. */
export type StateClaim =
  | { readonly kind: 'claimed' }
  /** The same caller repeats a verify that already succeeded with this authRequestId. */
  | { readonly kind: 'already_verified'; readonly result?: VerifiedResult }
  | { readonly kind: 'refused' };

/** The connection registry and pending link states, all under the caller's own key. */
export interface ConnectionStore {
  getEntry(sub: string, connection: string): Promise<RegistryEntry | undefined>;
  listEntries(sub: string): Promise<RegistryEntry[]>;
  putEntry(sub: string, entry: RegistryEntry): Promise<void>;
  /**
   * Records a status seen at `checkedAt`; `changedAt` moves only when the status differs.
   * Returns whether the status changed (idempotent under repeats and concurrency). With
   * `touch: false` an unchanged entry is not written at all (the scheduled check's case).
   */
  recordStatus(
    sub: string,
    connection: string,
    seen: { status: ConnectionStatus; connectedAccountId?: string; checkedAt: string; touch?: boolean },
  ): Promise<boolean>;
  deleteEntry(sub: string, connection: string): Promise<void>;
  /** The recorded status of many users' entries for one connection (absent: no entry). */
  statusesOf(subs: readonly string[], connection: string): Promise<Map<string, ConnectionStatus>>;

  putState(sub: string, state: LinkState): Promise<void>;
  /** Claims an issued, unexpired state for `authRequestId` (conditional write). */
  claimState(sub: string, state: string, connection: string, authRequestId: string, now: number): Promise<StateClaim>;
  /** Marks a claimed state used: the verify succeeded. */
  completeState(sub: string, state: string, authRequestId: string, result: VerifiedResult): Promise<void>;
  /** Gives a claimed state back (the verify failed upstream or was refused), so it can be retried. */
  releaseState(sub: string, state: string, authRequestId: string): Promise<void>;
}

// ─── Conversations ──────────────────────────────────────────────────────────────────────────

/** Messages API content blocks, exactly as sent to and received from Claude. */
export interface TextBlock {
  readonly type: 'text';
  readonly text: string;
}
export interface ToolUseBlock {
  readonly type: 'tool_use';
  readonly id: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
}
export interface ToolResultBlock {
  readonly type: 'tool_result';
  readonly tool_use_id: string;
  readonly content: string;
  readonly is_error?: boolean;
}
/** Any other block Claude may send (kept as received). */
export interface OtherBlock {
  readonly type: string;
  readonly [key: string]: unknown;
}
export type ContentBlock = TextBlock | ToolUseBlock | ToolResultBlock | OtherBlock;

export interface Message {
  readonly role: 'user' | 'assistant';
  readonly content: readonly ContentBlock[];
}

/** A stored message: its position and what the loop needs to know without re-reading it. */
export interface StoredMessage extends Message {
  readonly seq: number;
  /** Why Claude stopped (assistant messages only). */
  readonly stopReason?: string;
  /** A user message that opens an exchange (text from the user, not tool results). */
  readonly startsExchange: boolean;
  /** Estimated tokens, for fitting the history window. */
  readonly tokens: number;
}

export interface Usage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheCreationInputTokens: number;
  readonly cacheReadInputTokens: number;
}

export type RunStatus = 'completed' | 'in_progress' | 'awaiting_approval' | 'needs_authorization';

export interface PendingApproval {
  readonly toolUseId: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
}

/** The conversation header (`CONV#<id>`). */
export interface ConversationHeader {
  readonly id: string;
  readonly status: RunStatus;
  readonly title: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Messages stored so far; the next message's `seq`. */
  readonly messageCount: number;
  readonly usage: Usage;
  readonly pendingApprovals: readonly PendingApproval[];
  /** The last run ended on `max_tokens` or `model_context_window_exceeded`. */
  readonly truncated?: boolean;
}

export type ToolOutcome = 'succeeded' | 'failed' | 'denied' | 'unknown';

/** An approval decision, as recorded with the tool execution (the audit of who approved what). */
export interface ToolDecision {
  readonly decision: 'approve' | 'deny';
  readonly by: string;
  readonly at: string;
  /** Hash of the exact stored `tool_use` input the decision applies to. */
  readonly inputHash: string;
}

/** One tool execution (`TOOL#<id>#<toolUseId>`): also the audit record. */
export interface ToolRecord {
  readonly toolUseId: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly inputHash: string;
  /** Who the tool acted as (the caller's `sub`). */
  readonly actor: string;
  readonly connection: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly outcome?: ToolOutcome;
  /** The `tool_result` content given to Claude (truncated as stored). */
  readonly result?: string;
  readonly isError?: boolean;
  readonly executionId?: string;
  readonly durationMs?: number;
  readonly decision?: ToolDecision;
}

/** One page of a user's conversations, newest first. */
export interface ConversationPage {
  readonly items: readonly ConversationHeader[];
  readonly nextToken: string | null;
}

/** Thrown by the store when another request holds the conversation. */
export class LeaseUnavailable extends Error {
  override name = 'LeaseUnavailable';
}

/**
 * Conversations in the table, all under the caller's key: a header, one item per message and
 * one per tool execution. Every write during a run is conditional on holding the lease.
 */
export interface ConversationStore {
  /** Creates header + first message, with the lease already held by `leaseId`. */
  create(sub: string, header: ConversationHeader, first: StoredMessage, lease: Lease): Promise<void>;
  /** Takes the lease (`LeaseUnavailable` when held and unexpired); `undefined` when no such conversation. */
  acquire(sub: string, id: string, lease: Lease): Promise<ConversationHeader | undefined>;
  release(sub: string, id: string, leaseId: string): Promise<void>;
  get(sub: string, id: string): Promise<ConversationHeader | undefined>;
  list(sub: string, limit: number, nextToken: string | undefined): Promise<ConversationPage>;
  /** Appends the message at `message.seq` and applies `changes` to the header, atomically. */
  append(sub: string, id: string, leaseId: string, message: StoredMessage, changes: HeaderChanges): Promise<void>;
  update(sub: string, id: string, leaseId: string, changes: HeaderChanges): Promise<void>;
  /** The newest messages whose tokens fit `tokenBudget`, starting at an exchange, oldest first. */
  window(sub: string, id: string, tokenBudget: number): Promise<StoredMessage[]>;
  /** Every message, oldest first. */
  messages(sub: string, id: string): Promise<StoredMessage[]>;
  toolRecords(sub: string, id: string, toolUseIds?: readonly string[]): Promise<ToolRecord[]>;
  /** Creates a tool record awaiting a decision (no-op when it exists). */
  proposeTool(sub: string, id: string, record: ToolRecord): Promise<void>;
  /** Records a decision once; false when one was already recorded. */
  decideTool(sub: string, id: string, toolUseId: string, decision: ToolDecision): Promise<boolean>;
  /** Marks the tool started — exactly once: false when it had been started before. */
  startTool(sub: string, id: string, record: ToolRecord): Promise<boolean>;
  /** Forgets a start that provably did not run the tool (refused before execution). */
  unstartTool(sub: string, id: string, toolUseId: string): Promise<void>;
  finishTool(sub: string, id: string, toolUseId: string, finish: ToolFinish): Promise<void>;
  /** Deletes the conversation with its messages and records; false when there was none. */
  delete(sub: string, id: string, leaseId: string): Promise<boolean>;
}

export interface Lease {
  readonly id: string;
  readonly expiresAt: number;
  readonly now: number;
}

export interface HeaderChanges {
  readonly status?: RunStatus;
  readonly updatedAt: string;
  readonly messageCount?: number;
  readonly usage?: Usage;
  readonly pendingApprovals?: readonly PendingApproval[];
  readonly truncated?: boolean;
}

export interface ToolFinish {
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly inputHash: string;
  readonly actor: string;
  readonly connection: string;
  readonly outcome: ToolOutcome;
  readonly result: string;
  readonly isError: boolean;
  readonly finishedAt: string;
  readonly executionId?: string;
  readonly durationMs?: number;
}

/** What Claude answered. */
export interface ModelResponse {
  readonly content: readonly ContentBlock[];
  readonly stopReason: string;
  readonly usage: Usage;
}

/** Claude, behind the Messages API. Failures throw `UpstreamError`. */
export interface ChatModel {
  complete(request: { system: string; tools: readonly ToolDefinition[]; messages: readonly Message[] }): Promise<ModelResponse>;
}

/** Named points of a run where a test may inject a crash (never set in production). */
export type CrashPoint =
  | 'after_assistant_saved'
  | 'after_tool_started'
  | 'after_tools_finished'
  | 'after_approval_saved'
  | 'before_lease_released';

export interface Faults {
  checkpoint(point: CrashPoint): void;
}
