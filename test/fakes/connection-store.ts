import type { ConnectionStatus, LinkState, RegistryEntry, StateClaim, VerifiedResult } from '../../functions/core/domain';
import type { ConnectionStore } from '../../functions/core/ports';
import { copy } from './copy';

/** A verify that crashed between claim and completion gives its claim up after this long (as the adapter). */
const STALE_CLAIM_MS = 60_000;

interface StoredState extends LinkState {
  stateStatus: 'issued' | 'claimed' | 'used';
  /** When the table may clean the state up (epoch seconds), as the adapter writes it. */
  ttl: number;
  result?: VerifiedResult;
  authRequestId?: string;
  claimedAt?: number;
}

/** The registry and link states, keyed by the caller's `sub`, with the adapter's conditions. */
export class FakeConnectionStore implements ConnectionStore {
  private readonly entries = new Map<string, Map<string, RegistryEntry>>();
  private readonly states = new Map<string, Map<string, StoredState>>();
  /** Every write of a registry entry (to prove a repeated status check writes nothing). */
  entryWrites = 0;

  private entriesOf(sub: string): Map<string, RegistryEntry> {
    let map = this.entries.get(sub);
    if (!map) this.entries.set(sub, (map = new Map()));
    return map;
  }

  private statesOf(sub: string): Map<string, StoredState> {
    let map = this.states.get(sub);
    if (!map) this.states.set(sub, (map = new Map()));
    return map;
  }

  /** A state as stored (for assertions). */
  stateOf(sub: string, state: string): Readonly<StoredState> | undefined {
    const stored = this.statesOf(sub).get(state);
    return stored ? copy(stored) : undefined;
  }

  /** Every state issued to a user. */
  statesFor(sub: string): Readonly<StoredState>[] {
    return [...this.statesOf(sub).values()].map(copy);
  }

  async getEntry(sub: string, connection: string): Promise<RegistryEntry | undefined> {
    const entry = this.entriesOf(sub).get(connection);
    return entry ? copy(entry) : undefined;
  }

  async listEntries(sub: string): Promise<RegistryEntry[]> {
    return [...this.entriesOf(sub).values()].map(copy);
  }

  async putEntry(sub: string, entry: RegistryEntry): Promise<void> {
    this.entryWrites++;
    this.entriesOf(sub).set(entry.connection, copy(entry));
  }

  /** Every attempted status write, refused or not (a refused conditional write costs like one). */
  statusWriteAttempts = 0;

  async statusesOf(subs: readonly string[], connection: string): Promise<Map<string, ConnectionStatus>> {
    const statuses = new Map<string, ConnectionStatus>();
    for (const sub of subs) {
      const entry = this.entriesOf(sub).get(connection);
      if (entry) statuses.set(sub, entry.status);
    }
    return statuses;
  }

  async recordStatus(
    sub: string,
    connection: string,
    seen: { status: ConnectionStatus; connectedAccountId?: string; checkedAt: string; touch?: boolean },
  ): Promise<boolean> {
    this.statusWriteAttempts++;
    const entries = this.entriesOf(sub);
    const existing = entries.get(connection);
    const accountId = seen.connectedAccountId ? { connectedAccountId: seen.connectedAccountId } : {};
    if (!existing || existing.status !== seen.status) {
      this.entryWrites++;
      entries.set(connection, {
        ...existing,
        connection,
        status: seen.status,
        checkedAt: seen.checkedAt,
        changedAt: seen.checkedAt,
        ...accountId,
      });
      return true;
    }
    if (seen.touch === false) return false;
    if (existing.checkedAt < seen.checkedAt) {
      this.entryWrites++;
      entries.set(connection, { ...existing, checkedAt: seen.checkedAt, ...accountId });
    }
    return false;
  }

  async deleteEntry(sub: string, connection: string): Promise<void> {
    this.entriesOf(sub).delete(connection);
  }

  async putState(sub: string, state: LinkState): Promise<void> {
    const states = this.statesOf(sub);
    if (states.has(state.state)) throw new Error('ConditionalCheckFailedException: state exists');
    states.set(state.state, { ...copy(state), stateStatus: 'issued', ttl: Math.ceil(state.expiresAt / 1000) + 3600 });
  }

  async claimState(sub: string, state: string, connection: string, authRequestId: string, now: number): Promise<StateClaim> {
    const stored = this.statesOf(sub).get(state);
    if (
      stored &&
      stored.connection === connection &&
      stored.expiresAt > now &&
      (stored.stateStatus === 'issued' || (stored.stateStatus === 'claimed' && (stored.claimedAt ?? 0) < now - STALE_CLAIM_MS))
    ) {
      stored.stateStatus = 'claimed';
      stored.authRequestId = authRequestId;
      stored.claimedAt = now;
      return { kind: 'claimed' };
    }
    if (stored?.stateStatus === 'used' && stored.authRequestId === authRequestId && stored.connection === connection) {
      return { kind: 'already_verified', result: stored.result };
    }
    return { kind: 'refused' };
  }

  async completeState(sub: string, state: string, authRequestId: string, result: VerifiedResult): Promise<void> {
    const stored = this.statesOf(sub).get(state);
    if (stored?.stateStatus !== 'claimed' || stored.authRequestId !== authRequestId) {
      throw new Error('ConditionalCheckFailedException: state not claimed by this request');
    }
    stored.stateStatus = 'used';
    stored.result = result;
  }

  async releaseState(sub: string, state: string, authRequestId: string): Promise<void> {
    const stored = this.statesOf(sub).get(state);
    if (stored?.stateStatus !== 'claimed' || stored.authRequestId !== authRequestId) return;
    stored.stateStatus = 'issued';
    delete stored.authRequestId;
    delete stored.claimedAt;
  }
}
