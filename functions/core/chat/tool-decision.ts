import type { ToolOutcome, ToolRecord } from '../domain';
import type { ToolPolicy } from '../tool-policy';

/** What happens to one `tool_use` of Claude's, decided from what is known of it before anything runs. */
export type ToolDecisionKind =
  /** It finished in an earlier request: its stored result is given back, it never runs again. */
  | { readonly kind: 'replay'; readonly result: string; readonly isError: boolean }
  /** It started in an earlier request and never finished: whether it took effect is unknown. */
  | { readonly kind: 'interrupted' }
  /** The deployment or the user declined it. */
  | { readonly kind: 'denied' }
  /** It cannot run at all (no connection offers the tool). */
  | { readonly kind: 'refused' }
  /** Its input does not match the tool's schema: it never reaches the provider. */
  | { readonly kind: 'invalid'; readonly problems: readonly string[] }
  /** It needs the user's decision first; `propose` when no record of it exists yet. */
  | { readonly kind: 'await_approval'; readonly propose: boolean }
  /** It runs now. */
  | { readonly kind: 'execute' };

/** What the decision is made from. */
export interface ToolCallFacts {
  /** The tool's record from an earlier request, if any. */
  readonly record: ToolRecord | undefined;
  readonly policy: ToolPolicy;
  /** Whether one of the user's connections offers the tool. */
  readonly available: boolean;
  /** The hash of the input Claude asked with (an approval must match it). */
  readonly inputHash: string;
  /** How the input breaks the tool's `input_schema` (empty when it follows it). */
  readonly inputProblems: readonly string[];
}

/**
 * The per-tool decision, pure: a finished call is replayed, an interrupted one is never run
 * again, then the policy, the tool's availability, its input's fit to the schema and the user's
 * recorded decision apply.
 */
export function decideToolCall({ record, policy, available, inputHash, inputProblems }: ToolCallFacts): ToolDecisionKind {
  if (record?.outcome !== undefined) return { kind: 'replay', result: record.result ?? '', isError: record.isError === true };
  if (record?.startedAt) return { kind: 'interrupted' };
  if (policy === 'deny') return { kind: 'denied' };
  if (!available) return { kind: 'refused' };
  // Checked before an approval is asked for: the user is never asked to approve a call that cannot run.
  if (inputProblems.length > 0) return { kind: 'invalid', problems: inputProblems };
  if (policy === 'confirm') {
    const decision = record?.decision;
    if (decision?.decision === 'deny') return { kind: 'denied' };
    if (decision?.decision !== 'approve' || decision.inputHash !== inputHash) return { kind: 'await_approval', propose: !record };
  }
  return { kind: 'execute' };
}

/** The result text and outcome recorded for a call that was decided without running. */
export const NOT_RUN: Readonly<Record<'interrupted' | 'denied' | 'truncated', { outcome: ToolOutcome; result: string }>> = {
  interrupted: {
    outcome: 'unknown',
    result: 'This tool was interrupted while it ran; whether it took effect is unknown, so it was not run again.',
  },
  denied: { outcome: 'denied', result: 'The user declined this tool call; it was not run.' },
  truncated: { outcome: 'failed', result: 'Not run: the response was cut off before this tool call was complete.' },
};
