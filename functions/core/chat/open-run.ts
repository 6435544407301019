import { resolveVerifyUrl } from '../connections';
import { type ConversationHeader, isConversationId, type StoredMessage } from '../domain';
import type { Lease } from '../ports';
import { DomainError } from '../errors';
import { HeldConversation } from './conversation';
import { Deadline, type RequestTime } from './deadline';
import type { RunEvents } from './events';
import { acquireLease, newLease, releaseLease } from './lease';
import { Run } from './run';
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

/** Which conversation a run works on: a new one holding its first message, or an existing one. */
export type RunTarget =
  | { readonly create: { readonly header: ConversationHeader; readonly first: StoredMessage; readonly lease: Lease } }
  | { readonly id: string };

/**
 * Holds a conversation's lease for the duration of `work` and always gives it back. A crash
 * leaves the lease to expire (`leaseMs`), after which `resume` continues. Throws `not_found`
 * for no such conversation and `conversation_busy` when another request holds it.
 */
export async function holding<T>(
  deps: ChatDeps,
  sub: string,
  target: RunTarget,
  work: (header: ConversationHeader, leaseId: string, first?: StoredMessage) => Promise<T>,
): Promise<T> {
  let header: ConversationHeader | undefined;
  let lease: Lease;
  if ('create' in target) {
    ({ header, lease } = target.create);
    await deps.store.create(sub, header, target.create.first, lease);
  } else {
    if (!isConversationId(target.id)) throw notFound();
    lease = newLease(deps);
    header = await acquireLease(deps, sub, target.id, lease);
    if (!header) throw notFound();
  }
  try {
    return await work(header, lease.id, 'create' in target ? target.create.first : undefined);
  } finally {
    await releaseLease(deps, sub, header.id, lease.id);
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
  return holding(deps, sub, target, async (header, leaseId, first) => {
    const conversation = new HeldConversation(deps, sub, header, leaseId, first);
    const run = new Run(deps, conversation, verifyUrl, { deadline, events: options.events });
    try {
      return await work(run);
    } catch (error) {
      throw withConversation(error, header.id);
    }
  });
}
