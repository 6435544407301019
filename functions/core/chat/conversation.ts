import type { ConversationHeader, Message, StoredMessage } from '../domain';
import type { HeaderChanges } from '../ports';
import { translateLeaseLost } from './lease';
import { iso, storedMessage, toolUsesOf } from './messages';
import type { ChatDeps } from './settings';

/**
 * One conversation while this request holds its lease: the header as last written, the history
 * window read once and grown by this request's messages, and the writes conditional on the lease.
 */
export class HeldConversation {
  private current: ConversationHeader;
  private window: StoredMessage[] | undefined;
  /** The newest assistant message this request stored (the reply when a run ends on tool results). */
  private newestAssistant: StoredMessage | undefined;
  /** When this request last moved its lease's expiry (it took the lease just before this object was made). */
  private leaseRenewedAt: number;

  constructor(
    private readonly deps: Pick<ChatDeps, 'store' | 'clock' | 'settings'>,
    readonly sub: string,
    header: ConversationHeader,
    readonly leaseId: string,
    private last: StoredMessage | undefined,
  ) {
    this.current = header;
    this.leaseRenewedAt = deps.clock.now();
  }

  get id(): string {
    return this.current.id;
  }

  get header(): ConversationHeader {
    return this.current;
  }

  get lastAssistant(): StoredMessage | undefined {
    return this.newestAssistant;
  }

  /** Applies header changes, then keeps them locally once the store accepted them. Renews the lease. */
  async update(changes: Omit<HeaderChanges, 'updatedAt' | 'leaseExpiresAt'>): Promise<void> {
    const now = this.deps.clock.now();
    const full: HeaderChanges = { ...changes, updatedAt: iso(now), leaseExpiresAt: now + this.deps.settings.leaseMs };
    await this.deps.store.update(this.sub, this.id, this.leaseId, full).catch((error: unknown) => {
      throw translateLeaseLost(error, this.id);
    });
    this.leaseRenewedAt = now;
    const { leaseExpiresAt: _, ...header } = full;
    this.current = { ...this.current, ...header };
  }

  /**
   * Renews the lease when half of it has passed since the last write, before a call that may take
   * long: a run of minutes keeps its conversation, a crashed one still loses it after `leaseMs`.
   */
  async renewLease(): Promise<void> {
    if (this.deps.clock.now() - this.leaseRenewedAt < this.deps.settings.leaseMs / 2) return;
    await this.update({});
  }

  /** Appends a message at the next position together with header changes, atomically. */
  async append(
    message: Message,
    options: { stopReason?: string; changes?: Omit<HeaderChanges, 'updatedAt' | 'leaseExpiresAt'> } = {},
  ): Promise<StoredMessage> {
    const now = this.deps.clock.now();
    const stored = storedMessage(this.current.messageCount, message, options.stopReason);
    const full: HeaderChanges = {
      ...options.changes,
      messageCount: stored.seq + 1,
      updatedAt: iso(now),
      leaseExpiresAt: now + this.deps.settings.leaseMs,
    };
    await this.deps.store.append(this.sub, this.id, this.leaseId, stored, full).catch((error: unknown) => {
      throw translateLeaseLost(error, this.id);
    });
    this.leaseRenewedAt = now;
    const { leaseExpiresAt: _, ...header } = full;
    this.current = { ...this.current, ...header };
    this.window?.push(stored);
    this.last = stored;
    if (stored.role === 'assistant') this.newestAssistant = stored;
    return stored;
  }

  /** Appends the user's new message (the run has not started). */
  async addUserMessage(text: string): Promise<void> {
    await this.append({ role: 'user', content: [{ type: 'text', text }] }, { changes: { status: 'in_progress', truncated: false } });
  }

  async lastMessage(): Promise<StoredMessage | undefined> {
    if (this.last === undefined && this.current.messageCount > 0) {
      const window = await this.history();
      this.last = window.at(-1);
    }
    return this.last;
  }

  /** The history window (read once per request), grown by this request's messages. */
  async history(): Promise<StoredMessage[]> {
    this.window ??= await this.deps.store.window(this.sub, this.id, this.deps.settings.historyTokenBudget);
    return this.window;
  }

  /** Whether Claude's newest message still awaits its tool results (a run paused between them). */
  async awaitsToolResults(): Promise<boolean> {
    const last = await this.lastMessage();
    return last?.role === 'assistant' && toolUsesOf(last).length > 0;
  }
}
