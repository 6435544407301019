import type { ConversationHeader } from '../domain';
import { approvalPending, recordDecision, settleRecordedDecisions } from './approvals';
import { userMessage } from './conversation';
import { newLease, translateLeaseLost } from './lease';
import { iso, storedMessage, ZERO_USAGE } from './messages';
import { holding, type RunRequest, withRun } from './open-run';
import type { RunOutcome } from './outcome';
import type { ChatDeps } from './settings';

/**
 * `POST /conversations`. Primary course: create the conversation holding its lease, store the
 * user's message, then run the tool loop under the caller's own connection.
 */
export async function startConversation(
  deps: ChatDeps,
  sub: string,
  request: { message: string; verifyUrl?: string },
  options: RunRequest = {},
): Promise<RunOutcome> {
  const now = deps.clock.now();
  const header: ConversationHeader = {
    id: deps.newConversationId(),
    status: 'in_progress',
    title: request.message.trim().replace(/\s+/g, ' ').slice(0, 80),
    createdAt: iso(now),
    updatedAt: iso(now),
    messageCount: 1,
    usage: ZERO_USAGE,
    pendingApprovals: [],
  };
  const first = storedMessage(0, userMessage(request.message));
  const target = { create: { header, first, lease: newLease(deps) } };
  return withRun(deps, sub, target, request, options, async (run) => {
    await run.loop();
    return run.outcome();
  });
}

/**
 * `POST /conversations/{id}/messages`: the user's next message, then the tool loop. The message
 * is stored as the lease is taken (refused while a run waits to be resumed or decided).
 */
export async function postMessage(
  deps: ChatDeps,
  sub: string,
  id: string,
  request: { message: string; verifyUrl?: string },
  options: RunRequest = {},
): Promise<RunOutcome> {
  return withRun(deps, sub, { id, message: request.message }, request, options, async (run) => {
    await run.loop();
    return run.outcome();
  });
}

/** `POST /conversations/{id}/resume`: continues a paused or interrupted run; a completed one is returned as is. */
export async function resumeConversation(
  deps: ChatDeps,
  sub: string,
  id: string,
  request: { verifyUrl?: string },
  options: RunRequest = {},
): Promise<RunOutcome> {
  return withRun(deps, sub, { id }, request, options, async (run) => {
    const { conversation } = run;
    const wasCompleted = conversation.header.status === 'completed';
    await settleRecordedDecisions(deps, conversation);
    if (conversation.header.status === 'awaiting_approval') throw approvalPending(id);
    if (!wasCompleted) await run.loop();
    return run.outcome();
  });
}

/**
 * `POST /conversations/{id}/approvals`. Primary course: record the decision with the tool's
 * record (bound to the stored input's hash, once); while others are pending answer
 * `awaiting_approval`; once all are decided, continue the run in this request.
 */
export async function decideApproval(
  deps: ChatDeps,
  sub: string,
  id: string,
  request: { toolUseId: string; decision: 'approve' | 'deny'; verifyUrl?: string },
  options: RunRequest = {},
): Promise<RunOutcome> {
  return withRun(deps, sub, { id }, request, options, async (run) => {
    const { conversation } = run;
    // Deciding first lets a client retry an approval whose request crashed after saving it.
    await recordDecision(deps, conversation, request);
    await settleRecordedDecisions(deps, conversation);
    if (conversation.header.status !== 'awaiting_approval') await run.loop();
    return run.outcome();
  });
}

/** `DELETE /conversations/{id}`: the conversation, its messages and its records. */
export async function deleteConversation(deps: ChatDeps, sub: string, id: string): Promise<void> {
  await holding(deps, sub, { id }, async (conversation) => {
    await deps.store.delete(sub, id, conversation.leaseId).catch((error: unknown) => {
      throw translateLeaseLost(error, id);
    });
  });
}
