import type { PendingApproval, RunStatus, ToolOutcome } from '../domain';

/** A tool call as the API reports it. */
export interface ToolCallView {
  readonly toolUseId: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly outcome: ToolOutcome;
  /** Time spent executing the tool; 0 for a call that never ran (denied, refused, interrupted). */
  readonly durationMs: number;
}

/** The outcome of a run (`docs/api.md`, "Conversations"). */
export interface RunOutcome {
  readonly conversationId: string;
  readonly status: RunStatus;
  readonly reply: string | null;
  readonly toolCalls: readonly ToolCallView[];
  readonly pendingApprovals: readonly PendingApproval[];
  readonly authorizationUrl: string | null;
  readonly truncated?: true;
}
