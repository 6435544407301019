import { randomBytes } from 'node:crypto';
import { readState, writeState } from '../service';

/** Scalekit's connected-account statuses, by name (the wire carries the numeric `ConnectorStatus`). */
export const ACCOUNT_STATUSES = ['ACTIVE', 'EXPIRED', 'PENDING_AUTH', 'PENDING_VERIFICATION', 'DISCONNECTED'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** A user's OAuth grant at the provider, as Scalekit's token vault holds it. Never logged. */
export interface OAuthGrant {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms after which the access token is refreshed before use. */
  expiresAt: number;
  scopes: string[];
  /** The provider account the grant belongs to (Asana user gid). */
  providerUserId: string;
}

export interface ConnectedAccountRecord {
  id: string;
  connectionName: string;
  connectionId: string;
  provider: string;
  identifier: string;
  status: AccountStatus;
  grant?: OAuthGrant;
  createdAt: number;
  updatedAt: number;
  lastUsedAt?: number;
}

/**
 * One authorization link and, once the user has consented, its pending authorization request.
 * `phase`: `issued` (link handed out) → `consented` (tokens held, waiting for verify) → `verified`.
 */
export interface AuthRequestRecord {
  linkId: string;
  accountId: string;
  connectionName: string;
  identifier: string;
  state?: string;
  userVerifyUrl?: string;
  /** The `state` this emulator sends to the provider's authorize endpoint (not the app's state). */
  providerState: string;
  createdAt: number;
  expiresAt: number;
  phase: 'issued' | 'consented' | 'verified';
  authRequestId?: string;
  pendingGrant?: OAuthGrant;
}

export type ExecutionOutcome = 'succeeded' | 'failed';

/** One tool execution as the `_control/executions` log reports it. */
export interface ExecutionRecord {
  seq: number;
  executionId: string;
  toolName: string;
  identifier: string;
  connectedAccountId: string;
  startedAt: string;
  finishedAt: string;
  outcome: ExecutionOutcome;
}

interface PersistedState {
  version: 1;
  accounts: ConnectedAccountRecord[];
  authRequests: AuthRequestRecord[];
  executions: ExecutionRecord[];
}

/** Random id with Scalekit-like prefixes (`ca_…`, `ar_…`). */
export function newId(prefix: string, bytes = 12): string {
  return `${prefix}_${randomBytes(bytes).toString('hex')}`;
}

const accountKey = (connectionName: string, identifier: string): string => `${connectionName}\u0000${identifier}`;

/**
 * The emulator's whole state: connected accounts keyed by (connection name, identifier), authorization
 * requests, and the executions log. Mutations schedule one coalesced write of the state file, so seeding
 * thousands of accounts or logging many executions costs one write, not one per change.
 */
export class ScalekitStore {
  private readonly accounts = new Map<string, ConnectedAccountRecord>();
  private readonly accountIdsByKey = new Map<string, string>();
  private readonly accountIdsByIdentifier = new Map<string, Set<string>>();
  private readonly authRequests = new Map<string, AuthRequestRecord>();
  private readonly executionLog: ExecutionRecord[] = [];
  private writeTimer: NodeJS.Timeout | undefined;
  private membership = 0;

  constructor(private readonly stateFile: string | undefined) {
    const saved = readState<PersistedState>(stateFile);
    if (saved?.version !== 1) return;
    for (const account of saved.accounts) this.putAccount(account);
    for (const request of saved.authRequests) this.authRequests.set(request.linkId, request);
    this.executionLog.push(...saved.executions);
  }

  // Connected accounts

  accountById(id: string): ConnectedAccountRecord | undefined {
    return this.accounts.get(id);
  }

  accountByKey(connectionName: string, identifier: string): ConnectedAccountRecord | undefined {
    const id = this.accountIdsByKey.get(accountKey(connectionName, identifier));
    return id === undefined ? undefined : this.accounts.get(id);
  }

  /** Every account of one identifier, whatever its connection. */
  accountsOf(identifier: string): ConnectedAccountRecord[] {
    const ids = this.accountIdsByIdentifier.get(identifier) ?? new Set<string>();
    return [...ids].flatMap((id) => this.accounts.get(id) ?? []);
  }

  /** Every account, in creation order (stable for paging). */
  allAccounts(): IterableIterator<ConnectedAccountRecord> {
    return this.accounts.values();
  }

  /** Changes whenever an account is added or deleted (not when one changes), for caching filtered lists. */
  get membershipVersion(): number {
    return this.membership;
  }

  putAccount(account: ConnectedAccountRecord): void {
    if (!this.accounts.has(account.id)) this.membership += 1;
    this.accounts.set(account.id, account);
    this.accountIdsByKey.set(accountKey(account.connectionName, account.identifier), account.id);
    const ofIdentifier = this.accountIdsByIdentifier.get(account.identifier) ?? new Set<string>();
    ofIdentifier.add(account.id);
    this.accountIdsByIdentifier.set(account.identifier, ofIdentifier);
    this.changed();
  }

  deleteAccount(account: ConnectedAccountRecord): void {
    if (this.accounts.delete(account.id)) this.membership += 1;
    this.accountIdsByKey.delete(accountKey(account.connectionName, account.identifier));
    this.accountIdsByIdentifier.get(account.identifier)?.delete(account.id);
    for (const [linkId, request] of this.authRequests) {
      if (request.accountId === account.id) this.authRequests.delete(linkId);
    }
    this.changed();
  }

  // Authorization requests (magic links)

  putAuthRequest(request: AuthRequestRecord): void {
    this.authRequests.set(request.linkId, request);
    this.changed();
  }

  authRequestByLinkId(linkId: string): AuthRequestRecord | undefined {
    return this.authRequests.get(linkId);
  }

  authRequestByProviderState(providerState: string): AuthRequestRecord | undefined {
    for (const request of this.authRequests.values()) if (request.providerState === providerState) return request;
    return undefined;
  }

  authRequestById(authRequestId: string): AuthRequestRecord | undefined {
    for (const request of this.authRequests.values()) if (request.authRequestId === authRequestId) return request;
    return undefined;
  }

  /** Drops links that expired more than an hour ago, so a long-lived state file does not grow forever. */
  pruneAuthRequests(now: number): void {
    for (const [linkId, request] of this.authRequests) {
      if (request.expiresAt + 3_600_000 < now) this.authRequests.delete(linkId);
    }
  }

  // Executions log

  appendExecution(entry: Omit<ExecutionRecord, 'seq'>): ExecutionRecord {
    const record = { seq: (this.executionLog.at(-1)?.seq ?? 0) + 1, ...entry };
    this.executionLog.push(record);
    this.changed();
    return record;
  }

  /** Every execution with `seq > since`, in order, never capped. */
  executionsSince(since: number): ExecutionRecord[] {
    // seq is dense from 1, so the first entry after `since` sits at index `since` (binary search not needed).
    const start = Math.max(0, Math.min(Math.floor(since), this.executionLog.length));
    return this.executionLog.slice(start).filter((entry) => entry.seq > since);
  }

  // Persistence

  /** Marks the state dirty; the file is rewritten once shortly after a burst of changes. */
  changed(): void {
    if (!this.stateFile || this.writeTimer) return;
    this.writeTimer = setTimeout(() => this.flush(), 25);
    this.writeTimer.unref();
  }

  flush(): void {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    if (!this.stateFile) return;
    const state: PersistedState = {
      version: 1,
      accounts: [...this.accounts.values()],
      authRequests: [...this.authRequests.values()],
      executions: this.executionLog,
    };
    writeState(this.stateFile, state);
  }
}
