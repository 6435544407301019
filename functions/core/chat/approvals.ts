import { createHash } from 'node:crypto';
import { DomainError } from '../errors';
import type { HeldConversation } from './conversation';
import { iso } from './messages';
import type { ChatDeps } from './settings';

/** A stable hash of a tool input: what an approval is bound to. */
export function inputHash(input: Record<string, unknown>): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.keys(value as Record<string, unknown>)
          .sort()
          .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
      );
    }
    return value;
  };
  return createHash('sha256')
    .update(JSON.stringify(canonical(input)))
    .digest('hex');
}

export const approvalPending = (id: string) =>
  new DomainError('approval_pending', 'Tool calls are awaiting your decision; decide them first.', [], { conversationId: id });

/** Records a user's decision on a pending tool call, bound to the stored input's hash, once. */
export async function recordDecision(
  deps: Pick<ChatDeps, 'store' | 'clock' | 'faults'>,
  conversation: HeldConversation,
  decision: { toolUseId: string; decision: 'approve' | 'deny' },
): Promise<void> {
  const { header, sub, id } = conversation;
  const pending = header.pendingApprovals.find((approval) => approval.toolUseId === decision.toolUseId);
  if (header.status !== 'awaiting_approval' || !pending) {
    throw new DomainError('approval_mismatch', 'That tool call is not awaiting your decision.');
  }
  const recorded = await deps.store.decideTool(sub, id, decision.toolUseId, {
    decision: decision.decision,
    by: sub,
    at: iso(deps.clock.now()),
    inputHash: inputHash(pending.input),
  });
  if (!recorded) {
    // Decided before, yet still listed as pending: a request crashed between recording the
    // decision and updating the header. A retry of the same decision finishes the bookkeeping;
    // the recorded decision can never be changed.
    const [record] = await deps.store.toolRecords(sub, id, [decision.toolUseId]);
    if (record?.decision?.decision !== decision.decision) {
      throw new DomainError('approval_mismatch', 'That tool call was already decided.');
    }
  }
  deps.faults?.checkpoint('after_approval_saved');
  const remaining = header.pendingApprovals.filter((approval) => approval.toolUseId !== decision.toolUseId);
  await conversation.update(remaining.length > 0 ? { pendingApprovals: remaining } : { pendingApprovals: [], status: 'in_progress' });
}

/**
 * Drops from the pending list the calls whose decision is already recorded: a request that
 * crashed after saving a decision left it listed, and it can never be decided again. When
 * none remain, the run can continue.
 */
export async function settleRecordedDecisions(deps: Pick<ChatDeps, 'store'>, conversation: HeldConversation): Promise<void> {
  const { header, sub, id } = conversation;
  if (header.status !== 'awaiting_approval') return;
  const pending = header.pendingApprovals;
  const records = await deps.store.toolRecords(
    sub,
    id,
    pending.map((approval) => approval.toolUseId),
  );
  const decided = new Set(records.filter((record) => record.decision !== undefined).map((record) => record.toolUseId));
  if (decided.size === 0) return;
  const remaining = pending.filter((approval) => !decided.has(approval.toolUseId));
  await conversation.update(remaining.length > 0 ? { pendingApprovals: remaining } : { pendingApprovals: [], status: 'in_progress' });
}
