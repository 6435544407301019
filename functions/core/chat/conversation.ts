import type { ConversationHeader, Message, StoredMessage } from '../domain';
import type { HeaderChanges, ToolStart, WriteOptions } from '../ports';
import { translateLeaseLost } from './lease';
import { iso, storedMessage, toolUsesOf } from './messages';
import type { ChatDeps } from './settings';

/** What a run knows of its conversation's header: what it reads and writes, not the title or dates. */
export type RunHeader = Pick<ConversationHeader, 'id' | 'status' | 'messageCount' | 'pendingApprovals' | 'truncated'>;

/** Header changes as a run asks for them: the store stamps the time and moves the lease. */
export type RunChanges = Omit<HeaderChanges, 'updatedAt' | 'leaseExpiresAt'>;

/** What the request already read or wrote when it took the lease. */
export interface Opened {
  /** The history window, when it was read to take the lease (see `acquireWithMessage`). */
  readonly window?: StoredMessage[];
  /** The newest message, when this request wrote it. */
  readonly last?: StoredMessage;
}

/**
 * One conversation while this request holds its lease: the header as last written, the history
 * window read once and grown by this request's messages, and the writes conditional on the lease.
 * The run's last write gives the lease back (`release`); nothing is written after it.
 */
export class HeldConversation {
  private current: RunHeader;
  private window: StoredMessage[] | undefined;
  private last: StoredMessage | undefined;
  /** The newest assistant message this request stored (the reply when a run ends on tool results). */
  private newestAssistant: StoredMessage | undefined;
  /** When this request last moved its lease's expiry (it took the lease just before this object was made). */
  private leaseRenewedAt: number;
  private givenBack = false;

  constructor(
    private readonly deps: Pick<ChatDeps, 'store' | 'clock' | 'settings' | 'faults'>,
    readonly sub: string,
    header: RunHeader,
    readonly leaseId: string,
    opened: Opened = {},
  ) {
    this.current = header;
    this.window = opened.window;
    this.last = opened.last ?? opened.window?.at(-1);
    this.leaseRenewedAt = deps.clock.now();
  }

  get id(): string {
    return this.current.id;
  }

  get header(): RunHeader {
    return this.current;
  }

  get lastAssistant(): StoredMessage | undefined {
    return this.newestAssistant;
  }

  /** Whether the run's last write already gave the lease back. */
  get released(): boolean {
    return this.givenBack;
  }

  /** Applies header changes (and what rides with them), then keeps them locally once the store accepted them. */
  async update(changes: RunChanges, options: WriteOptions = {}): Promise<void> {
    const full = this.stamped(changes, options);
    await this.deps.store.update(this.sub, this.id, this.leaseId, full, options).catch((error: unknown) => {
      throw translateLeaseLost(error, this.id);
    });
    this.written(full, options);
  }

  /**
   * Renews the lease when half of it has passed since the last write, before a call that may take
   * long: a run of minutes keeps its conversation, a crashed one still loses it after `leaseMs`.
   */
  async renewLease(): Promise<void> {
    if (this.deps.clock.now() - this.leaseRenewedAt < this.deps.settings.leaseMs / 2) return;
    await this.update({});
  }

  /** Appends a message at the next position together with header changes (and what rides with them), atomically. */
  async append(message: Message, options: WriteOptions & { stopReason?: string; changes?: RunChanges } = {}): Promise<StoredMessage> {
    const { stopReason, changes, ...writes } = options;
    const stored = storedMessage(this.current.messageCount, message, stopReason);
    const full = this.stamped({ ...changes, messageCount: stored.seq + 1 }, writes);
    await this.deps.store.append(this.sub, this.id, this.leaseId, stored, full, writes).catch((error: unknown) => {
      throw translateLeaseLost(error, this.id);
    });
    this.written(full, writes);
    this.window?.push(stored);
    this.last = stored;
    if (stored.role === 'assistant') this.newestAssistant = stored;
    return stored;
  }

  /** Records these tools as started, each once: the ids started now (`conversation_busy` when the lease is gone). */
  async startTools(records: readonly ToolStart[]): Promise<ReadonlySet<string>> {
    if (this.givenBack) throw new Error('a write after the lease was given back');
    return this.deps.store.startTools(this.sub, this.id, this.leaseId, records).catch((error: unknown) => {
      throw translateLeaseLost(error, this.id);
    });
  }

  /** Appends the user's new message (the run has not started). */
  async addUserMessage(text: string): Promise<void> {
    await this.append(userMessage(text), { changes: NEW_MESSAGE_CHANGES });
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
    return awaitsToolResults(await this.lastMessage());
  }

  /**
   * The changes that change something, with the time, and the lease's new expiry once a quarter
   * of it has passed (every byte of a write is paid for); the last write's crash point comes first.
   */
  private stamped({ status, truncated, pendingApprovals, ...changes }: RunChanges, options: WriteOptions): HeaderChanges {
    if (this.givenBack) throw new Error('a write after the lease was given back');
    if (options.release) this.deps.faults?.checkpoint('before_lease_released');
    const now = this.deps.clock.now();
    const { leaseMs } = this.deps.settings;
    const current = this.current;
    return {
      ...changes,
      ...(status !== undefined && status !== current.status ? { status } : {}),
      ...(truncated !== undefined && truncated !== (current.truncated ?? false) ? { truncated } : {}),
      ...(pendingApprovals !== undefined && (pendingApprovals.length > 0 || current.pendingApprovals.length > 0)
        ? { pendingApprovals }
        : {}),
      updatedAt: iso(now),
      ...(now - this.leaseRenewedAt >= leaseMs / 4 ? { leaseExpiresAt: now + leaseMs } : {}),
    };
  }

  private written({ leaseExpiresAt, addUsage: _, ...header }: HeaderChanges, options: WriteOptions): void {
    if (leaseExpiresAt !== undefined) this.leaseRenewedAt = leaseExpiresAt - this.deps.settings.leaseMs;
    this.givenBack = options.release === true;
    this.current = { ...this.current, ...header };
  }
}

/** The user's words, as a message. */
export const userMessage = (text: string): Message => ({ role: 'user', content: [{ type: 'text', text }] });

/** What a user's new message changes on the header: a run starts, the last one's truncation is over. */
export const NEW_MESSAGE_CHANGES = { status: 'in_progress', truncated: false } as const satisfies RunChanges;

/** Whether a message is Claude's, asking for tools whose results are not stored yet. */
export const awaitsToolResults = (message: StoredMessage | undefined): boolean =>
  message?.role === 'assistant' && toolUsesOf(message).length > 0;
