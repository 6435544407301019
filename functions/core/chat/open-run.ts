import { resolveVerifyUrl } from '../connections';
import { type ConversationHeader, isConversationId, type StoredMessage } from '../domain';
import type { Lease } from '../ports';
import { DomainError } from '../errors';
import { approvalPending } from './approvals';
import { awaitsToolResults, HeldConversation, NEW_MESSAGE_CHANGES, userMessage } from './conversation';
import { Deadline, type RequestTime } from './deadline';
import type { RunEvents } from './events';
import { acquireLease, newLease, releaseLease } from './lease';
import { iso, storedMessage } from './messages';
import { Run } from './run';
import { openToolbox } from './toolbox';
import type { ChatDeps } from './settings';

export const notFound = () => new DomainError('not_found', 'No such conversation.');

/**
 * Maps failures during a run to the contract, naming the conversation so the client can resume.
 * An unexpected error becomes `internal_error` too (its cause kept for the log, never exposed).
 */
export function withConversation(error: unknown, id: string): DomainError {
  if (error instanceof DomainError) return error.with({ conversationId: id });
  const wrapped = new DomainError('internal_error', 'The request failed because of an internal error.', [], { conversationId: id });
  (wrapped as Error).cause = error;
  return wrapped;
}

/** How one request runs: its time (default: the JSON budget alone) and, when it streams, where its events go. */
export interface RunRequest {
  readonly time?: RequestTime;
  readonly events?: RunEvents;
}

/** Which conversation a run works on: a new one holding its first message, an existing one, or an existing one and the user's next message. */
export type RunTarget =
  | { readonly create: { readonly header: ConversationHeader; readonly first: StoredMessage; readonly lease: Lease } }
  | { readonly id: string; readonly message?: string };

const resumeRequired = (id: string) =>
  new DomainError('resume_required', 'The previous run is still in progress; resume it first.', [], { conversationId: id });

/**
 * Takes the lease of an existing conversation and stores the user's next message. Primary course:
 * the history is read first, then the lease and the message are one conditional write on the
 * state that history shows. When that write's conditions do not hold (another request holds it,
 * or a run waits to be resumed or decided), the long way tells which: take the lease, check, append.
 */
async function openWithMessage(deps: ChatDeps, sub: string, id: string, text: string): Promise<HeldConversation> {
  const window = await deps.store.window(sub, id, deps.settings.historyTokenBudget);
  const last = window.at(-1);
  if (last) {
    const lease = newLease(deps);
    const message = storedMessage(last.seq + 1, userMessage(text));
    const header = { id, ...NEW_MESSAGE_CHANGES, messageCount: message.seq + 1, pendingApprovals: [] };
    // Paused for authorization between a tool_use and its tool_result, only `resume` may go on.
    const statuses = awaitsToolResults(last) ? (['completed'] as const) : (['completed', 'needs_authorization'] as const);
    const changes = {
      ...NEW_MESSAGE_CHANGES,
      messageCount: header.messageCount,
      updatedAt: iso(lease.now),
      leaseExpiresAt: lease.expiresAt,
    };
    if (await deps.store.acquireWithMessage(sub, id, lease, message, statuses, changes)) {
      return new HeldConversation(deps, sub, header, lease.id, { window: [...window, message] });
    }
  }
  const conversation = await openExisting(deps, sub, id);
  try {
    const { status } = conversation.header;
    if (status === 'awaiting_approval') throw approvalPending(id);
    if (status === 'in_progress') throw resumeRequired(id);
    // A new message between a tool_use and its tool_result would leave the tool_use unanswered
    // (Claude rejects such a history), so the run must finish first.
    if (status === 'needs_authorization' && (await conversation.awaitsToolResults())) throw resumeRequired(id);
    await conversation.addUserMessage(text);
    return conversation;
  } catch (error) {
    await releaseLease(deps, sub, id, conversation.leaseId);
    throw error;
  }
}

async function openExisting(deps: ChatDeps, sub: string, id: string): Promise<HeldConversation> {
  const lease = newLease(deps);
  const header = await acquireLease(deps, sub, id, lease);
  if (!header) throw notFound();
  return new HeldConversation(deps, sub, header, lease.id);
}

/** The conversation of `target`, held: created, taken, or taken with the user's next message stored. */
async function open(deps: ChatDeps, sub: string, target: RunTarget): Promise<HeldConversation> {
  if ('create' in target) {
    const { header, first, lease } = target.create;
    await deps.store.create(sub, header, first, lease);
    return new HeldConversation(deps, sub, header, lease.id, { window: [first] });
  }
  if (!isConversationId(target.id)) throw notFound();
  return target.message === undefined ? openExisting(deps, sub, target.id) : openWithMessage(deps, sub, target.id, target.message);
}

/**
 * Holds a conversation's lease for the duration of `work` and always gives it back (unless the
 * run's last write already did). A crash leaves the lease to expire (`leaseMs`), after which
 * `resume` continues. Throws `not_found` for no such conversation and `conversation_busy` when
 * another request holds it.
 */
export async function holding<T>(
  deps: ChatDeps,
  sub: string,
  target: RunTarget,
  work: (conversation: HeldConversation) => Promise<T>,
): Promise<T> {
  const conversation = await open(deps, sub, target);
  try {
    return await work(conversation);
  } finally {
    if (!conversation.released) await releaseLease(deps, sub, conversation.id, conversation.leaseId);
  }
}

/**
 * The one set-up every run use case shares: the request's deadline fixed at its start, the verify
 * URL checked before anything is written, the conversation held under its lease, the `Run` built
 * over it, and every failure inside mapped to the contract with the conversation named.
 */
export async function withRun<T>(
  deps: ChatDeps,
  sub: string,
  target: RunTarget,
  request: { verifyUrl?: string },
  options: RunRequest,
  work: (run: Run) => Promise<T>,
): Promise<T> {
  const deadline = Deadline.of(deps.clock, options.time ?? { budgetMs: deps.settings.timeBudgetMs });
  const verifyUrl = resolveVerifyUrl(deps.connections.settings, request.verifyUrl);
  // A new message surely goes to Claude, who needs the user's tools: they are listed while the
  // conversation is taken, not after (never awaited when taking it fails).
  const toolbox = 'create' in target || target.message !== undefined ? openToolbox(deps, sub) : undefined;
  toolbox?.catch(() => undefined);
  return holding(deps, sub, target, async (conversation) => {
    const run = new Run(deps, conversation, verifyUrl, { deadline, events: options.events, toolbox });
    try {
      return await work(run);
    } catch (error) {
      throw withConversation(error, conversation.id);
    }
  });
}
