/**
 * The ports of the domain: everything `functions/core` needs from the outside world, as
 * interfaces, with the errors they may throw. Adapters in `functions/adapters` implement them
 * with the real SDKs; unit tests implement them in memory. The data they carry is in `domain.ts`.
 */
import type {
  ConnectedAccountInfo,
  ConnectionStatus,
  ConversationHeader,
  LinkState,
  Message,
  ModelResponse,
  PendingApproval,
  RegistryEntry,
  StateClaim,
  RunStatus,
  StoredMessage,
  ToolDecision,
  ToolDefinition,
  ToolExecution,
  ToolOutcome,
  ToolRecord,
  Usage,
  VerifiedResult,
} from './domain';

/** Now, as the domain sees it (tests move it by hand). */
export interface Clock {
  now(): number;
}

/** Time that passes, as the chat's deadlines use it (tests move it by hand, firing what is due). */
export interface Timers extends Clock {
  /** A signal that aborts `ms` from now. */
  signalAfter(ms: number): AbortSignal;
  /** Resolves `ms` from now. */
  sleep(ms: number): Promise<void>;
}

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
  /**
   * `refused` when Scalekit will not verify this request for this identifier (not theirs, unknown,
   * used). Sent once, never re-sent: an `UpstreamError` leaves whether it took effect unknown.
   */
  verify(identifier: string, authRequestId: string): Promise<'verified' | 'refused'>;
  /** Deletes the account (revoking its grant); a missing account is fine. */
  delete(identifier: string, connection: string): Promise<void>;
  /** One page of every account of a connection (for the status checker). */
  list(connection: string, pageToken?: string): Promise<{ accounts: ConnectedAccountInfo[]; nextPageToken?: string }>;
  /** Every page of the identifier's scoped tools for these connections. */
  listTools(identifier: string, connections: readonly string[]): Promise<ToolDefinition[]>;
  /**
   * Asks Scalekit to run a tool once, never re-sending it. An `UpstreamError` means the call was
   * not sent (nothing ran); a call that was sent and then failed is `{ kind: 'unknown' }`. An
   * abort after sending is `unknown` too.
   */
  execute(
    identifier: string,
    connection: string,
    toolName: string,
    input: Record<string, unknown>,
    options?: { readonly signal?: AbortSignal },
  ): Promise<ToolExecution>;
}

/**
 * The user pool, asked as the caller (with their own access token): what it holds about them.
 * Outages throw `UpstreamError`; a token the pool refuses, or a user without an email, is `undefined`.
 */
export interface UserDirectory {
  emailOf(accessToken: string): Promise<string | undefined>;
}

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

/** One page of a user's conversations, newest first. */
export interface ConversationPage {
  readonly items: readonly ConversationHeader[];
  readonly nextToken: string | null;
}

/** Thrown by the store when another request holds the conversation. */
export class LeaseUnavailable extends Error {
  override name = 'LeaseUnavailable';
}

/** Thrown by a conditional write when this request no longer holds the conversation's lease. */
export class LeaseLost extends Error {
  override name = 'LeaseLost';
}

/** Thrown by `list` for a page token the store never issued. */
export class BadPageToken extends Error {
  override name = 'BadPageToken';
}

/**
 * Conversations in the table, all under the caller's key: a header, one item per message and
 * one per tool execution. Every write during a run is conditional on holding the lease, and
 * carries everything that can ride with it (tool records, the lease's release, a token charge):
 * a turn costs as few round trips as its steps need.
 */
export interface ConversationStore {
  /** Creates header + first message, with the lease already held by `leaseId`. */
  create(sub: string, header: ConversationHeader, first: StoredMessage, lease: Lease): Promise<void>;
  /** Takes the lease (`LeaseUnavailable` when held and unexpired); `undefined` when no such conversation. */
  acquire(sub: string, id: string, lease: Lease): Promise<ConversationHeader | undefined>;
  /**
   * Takes the lease and appends `message` at `message.seq` in one write, only when the header's
   * `messageCount` is `message.seq`, its status is one of `statuses` and no other request holds
   * it. False when any of that does not hold: nothing was written (the caller takes the long way).
   */
  acquireWithMessage(
    sub: string,
    id: string,
    lease: Lease,
    message: StoredMessage,
    statuses: readonly RunStatus[],
    changes: HeaderChanges,
  ): Promise<boolean>;
  release(sub: string, id: string, leaseId: string): Promise<void>;
  /** `undefined` when there is none, or its header has expired. */
  get(sub: string, id: string): Promise<ConversationHeader | undefined>;
  /** One page, newest first, without expired conversations; `BadPageToken` for a token this store did not issue. */
  list(sub: string, limit: number, nextToken: string | undefined): Promise<ConversationPage>;
  /** Appends the message at `message.seq` and applies `changes` to the header, atomically (`LeaseLost` when not held). */
  append(sub: string, id: string, leaseId: string, message: StoredMessage, changes: HeaderChanges, options?: WriteOptions): Promise<void>;
  /** Applies `changes` to the header while `leaseId` holds it (`LeaseLost` otherwise). */
  update(sub: string, id: string, leaseId: string, changes: HeaderChanges, options?: WriteOptions): Promise<void>;
  /**
   * The newest messages whose tokens fit `tokenBudget`, starting at an exchange, oldest first.
   * Like `messages`, never an exchange whose opening message has expired.
   */
  window(sub: string, id: string, tokenBudget: number): Promise<StoredMessage[]>;
  /**
   * Every message still kept, oldest first: an exchange whose opening message has expired (or any
   * older one) is left out whole, so no `tool_use` is ever read without its `tool_result`.
   */
  messages(sub: string, id: string): Promise<StoredMessage[]>;
  /** The records asked for (or all), leaving out missing and expired ones. */
  toolRecords(sub: string, id: string, toolUseIds?: readonly string[]): Promise<ToolRecord[]>;
  /** Records a decision once; false when one was already recorded. */
  decideTool(sub: string, id: string, toolUseId: string, decision: ToolDecision): Promise<boolean>;
  /**
   * Marks these tools started, in one write while `leaseId` holds the conversation (`LeaseLost`
   * otherwise): each exactly once. Answers the ids this call started; one started before is left out.
   */
  startTools(sub: string, id: string, leaseId: string, records: readonly ToolStart[]): Promise<ReadonlySet<string>>;
  /** Forgets a start that provably did not run the tool (refused before execution). */
  unstartTool(sub: string, id: string, toolUseId: string): Promise<void>;
  /** Deletes the conversation with its messages and records; false when there was none (`LeaseLost` when not held). */
  delete(sub: string, id: string, leaseId: string): Promise<boolean>;
}

/**
 * How long a conversation is kept: every item the store writes (header, message, tool record) gets
 * a `ttl` of its write time plus `days`, and reads treat an item past its `ttl` as gone, whether or
 * not the table has deleted it yet.
 */
export interface Retention {
  readonly days: number;
  readonly clock: Clock;
}

/** The `ttl` (epoch seconds) of an item written now under `retention`. */
export function expiryOf(retention: Retention): number {
  return Math.floor(retention.clock.now() / 1000) + retention.days * 86_400;
}

/** Whether an item with this `ttl` (epoch seconds; none: kept) is past it now. */
export function isExpired(ttl: number | undefined, retention: Retention): boolean {
  return ttl !== undefined && ttl * 1000 <= retention.clock.now();
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
  /** Added to the header's running total (the store adds it: a request need not know the total). */
  readonly addUsage?: Usage;
  readonly pendingApprovals?: readonly PendingApproval[];
  readonly truncated?: boolean;
  /** Moves the held lease's expiry (epoch ms): a run renews its lease with every write. */
  readonly leaseExpiresAt?: number;
}

/** Who ran which tool, as every record of a call holds it (the audit). */
export interface ToolCallBase {
  readonly toolUseId: string;
  readonly name: string;
  readonly inputHash: string;
  /** The caller's `sub`: every record lies under its owner's key, so the key says it. */
  readonly actor: string;
  readonly connection: string;
}

/** A tool about to run: marked started before it is sent (its record is written when it ends). */
export interface ToolStart extends ToolCallBase {
  readonly startedAt: string;
}

/** How a call ended, recorded once (never overwriting an outcome). */
export interface ToolFinish extends ToolCallBase {
  readonly outcome: ToolOutcome;
  /**
   * The `tool_result` content, kept on the record only while no stored message holds it (a run
   * that paused between a batch and its `tool_result` message); absent when written with that message.
   */
  readonly result?: string;
  readonly isError: boolean;
  readonly finishedAt: string;
  readonly executionId?: string;
  readonly durationMs?: number;
  /** When it was sent (absent for a call that never ran, or whose start another request marked). */
  readonly startedAt?: string;
  /** No record of the call exists (none was proposed or decided): it is written whole, once. */
  readonly whole?: boolean;
}

/** Tokens to add to the caller's day (`USAGE#<day>`), in the same write as the answer that used them. */
export interface TokenCharge {
  readonly day: string;
  readonly tokens: Usage;
  /** The day item's `ttl` (epoch seconds) when this write creates it. */
  readonly expiresAt: number;
}

/** What rides with a conversation write, in the same transaction. */
export interface WriteOptions {
  /** Calls proposed for the user's approval: their records, created when missing. */
  readonly proposed?: readonly ToolCallBase[];
  /** Calls that ended: each record gets its outcome, once. */
  readonly finished?: readonly ToolFinish[];
  /** Records whose result the written message now holds: their own copy is dropped. */
  readonly settled?: readonly string[];
  /** The run's last write: the lease is given back with it. */
  readonly release?: boolean;
  readonly charge?: TokenCharge;
}

/** Why a run paused as `in_progress` with work left: its time budget (deadline) or its model calls ran out. */
export type RunStop = 'deadline' | 'model_call_budget' | 'quota';

/** The caller's daily token quota as a run sees it: asked before each model call, told after each. */
export interface RunQuota {
  /** True once the caller's tokens of the day reach the quota: the run stops as `in_progress`. */
  usedUp(): boolean;
  /** Counts a model call's tokens against the quota; the charge rides with the write that stores its answer. */
  charge(usage: Usage): TokenCharge;
  /** Adds a charge on its own, when the write that was to carry it failed (the tokens were spent). */
  record(charge: TokenCharge): Promise<void>;
}

/**
 * What a run reports as it goes, for the function's metrics. Called synchronously, never awaited:
 * an observer must not throw. Optional in `ChatDeps` (no observer: nothing is reported).
 */
export interface RunObserver {
  /** A model call answered, after `latencyMs`, with its token usage. */
  modelCalled(call: { readonly latencyMs: number; readonly usage: Usage }): void;
  /** A tool call ended; `durationMs` only for a call that ran. */
  toolFinished(call: { readonly name: string; readonly outcome: ToolOutcome; readonly durationMs?: number }): void;
  /** The request's run ended in `status`; `stoppedBy` when a budget paused it. */
  runEnded(run: { readonly status: RunStatus; readonly stoppedBy?: RunStop }): void;
}

/** Claude, behind the Messages API. Failures throw `UpstreamError`. */
/** One call to Claude. */
export interface ModelRequest {
  readonly system: string;
  readonly tools: readonly ToolDefinition[];
  readonly messages: readonly Message[];
}

/** Claude's text as it is generated: a text block opens, then its pieces arrive in order. */
export type ModelTextPart = { readonly kind: 'text_start' } | { readonly kind: 'text_delta'; readonly text: string };

export interface ModelCallOptions {
  /** Abandons the call when it aborts (it then throws and nothing of it counts). */
  readonly signal?: AbortSignal;
}

/**
 * Claude, behind the Messages API. Failures throw `UpstreamError`; a call whose signal aborted
 * throws whatever the abort produced. Neither call retries: the caller decides, knowing its deadline.
 */
export interface ChatModel {
  complete(request: ModelRequest, options?: ModelCallOptions): Promise<ModelResponse>;
  /** The same call, streamed: `onText` hears every text block open and every piece of its text as Claude writes it. */
  stream(request: ModelRequest, options: ModelCallOptions & { readonly onText: (part: ModelTextPart) => void }): Promise<ModelResponse>;
}
