import type { ConversationHeader } from '../domain';
import { DomainError } from '../errors';
import { type Lease, LeaseLost, LeaseUnavailable } from '../ports';
import type { ChatDeps } from './settings';

/** A new lease of `leaseMs` from now. */
export function newLease(deps: Pick<ChatDeps, 'clock' | 'newLeaseId' | 'settings'>): Lease {
  const now = deps.clock.now();
  return { id: deps.newLeaseId(), now, expiresAt: now + deps.settings.leaseMs };
}

export const conversationBusy = (id: string) =>
  new DomainError('conversation_busy', 'Another request is working on this conversation.', [], { conversationId: id });

/** The store's `LeaseLost` as the contract says it: another request took the conversation over. */
export function translateLeaseLost(error: unknown, id: string): unknown {
  if (error instanceof LeaseLost) {
    return new DomainError('conversation_busy', 'This request lost its hold on the conversation to another request.', [], {
      conversationId: id,
    });
  }
  return error;
}

/** Takes the conversation's lease: `undefined` when there is no such conversation, `conversation_busy` when held. */
export async function acquireLease(
  deps: Pick<ChatDeps, 'store'>,
  sub: string,
  id: string,
  lease: Lease,
): Promise<ConversationHeader | undefined> {
  try {
    return await deps.store.acquire(sub, id, lease);
  } catch (error) {
    if (error instanceof LeaseUnavailable) throw conversationBusy(id);
    throw error;
  }
}

/** Gives the lease back; a crash before this leaves it to expire (`leaseMs`), after which `resume` continues. */
export async function releaseLease(deps: Pick<ChatDeps, 'store' | 'faults'>, sub: string, id: string, leaseId: string): Promise<void> {
  deps.faults?.checkpoint('before_lease_released');
  await deps.store.release(sub, id, leaseId);
}
