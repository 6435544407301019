/**
 * The domain model: connections, conversations, messages and tool records as the use cases see
 * them. Plain data, no behaviour beyond the shape of an id; the ports (`ports.ts`) speak in it.
 */

/** Scalekit's connected-account statuses, plus ours for "no account at all". */
export type ConnectionStatus = 'ACTIVE' | 'PENDING_AUTH' | 'PENDING_VERIFICATION' | 'EXPIRED' | 'DISCONNECTED' | 'NOT_CONNECTED';

/** The upstream account a connection acts as (pinned at verify). */
export interface PinnedAccount {
  readonly name: string;
  readonly email: string;
  readonly gid: string;
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
  /**
   * Refused before it ran in a way that may mean the account is not usable (not ACTIVE, refresh
   * failed, access refused without the provider's tool-error detail). The run reads the account's
   * status to decide; `message` is what Scalekit or the provider said, for Claude.
   */
  | { readonly kind: 'not_authorized'; readonly message: string }
  /** The call was sent and failed without an answer that says what happened: the tool may have run. */
  | { readonly kind: 'unknown'; readonly message: string };

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
  /** The account policy refused the linked account (it was deleted): a repeat answers `403 account_mismatch`. */
  readonly accountMismatch?: boolean;
}

/** The outcome of trying to claim a state for a verify. */
export type StateClaim =
  | { readonly kind: 'claimed' }
  /** The same caller repeats a verify that already succeeded with this authRequestId. */
  | { readonly kind: 'already_verified'; readonly result?: VerifiedResult }
  | { readonly kind: 'refused' };

// ─── Conversations ──────────────────────────────────────────────────────────────────────────

const CONVERSATION_ID = /^c_[0-9a-z]{10}[0-9a-f]{12}$/;

/** Whether an id has the shape of a conversation id (malformed ids are simply not found). */
export function isConversationId(id: string): boolean {
  return CONVERSATION_ID.test(id);
}

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
  /** Only on records written before the `tool_use` block became the one copy of the input. */
  readonly input?: Record<string, unknown>;
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

/** What Claude answered. */
export interface ModelResponse {
  readonly content: readonly ContentBlock[];
  readonly stopReason: string;
  readonly usage: Usage;
}
