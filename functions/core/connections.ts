import { DomainError, UpstreamError } from './errors';
import type { ConnectedAccountInfo, ConnectionStatus, PinnedAccount, RegistryEntry } from './domain';
import type { Clock, ConnectedAccounts, ConnectionStore, UserDirectory } from './ports';

/** What the connections use cases need. */
export interface ConnectionsDeps {
  readonly accounts: ConnectedAccounts;
  readonly store: ConnectionStore;
  readonly clock: Clock;
  /** A fresh unguessable link state. */
  readonly newState: () => string;
  readonly settings: ConnectionSettings;
  /** The caller's own profile (their email), read by verify when the account policy is on. */
  readonly users?: UserDirectory;
}

/**
 * Which linked accounts a verify accepts: `off` any; `email` only one whose email is the
 * caller's (case-insensitive); `domain` only one whose email has the caller's domain.
 */
export type AccountMatch = 'off' | 'email' | 'domain';

export interface ConnectionSettings {
  /** The connections this deployment offers (default `asana`). */
  readonly connections: readonly string[];
  /** Lifetime of a link's state (default 600 s). */
  readonly stateTtlSeconds: number;
  /** Where the browser lands after consent when the client names no `verifyUrl`. */
  readonly defaultVerifyUrl: string;
  /** The web console's origin: verify URLs under it are allowed. */
  readonly webOrigin?: string;
  /** The account policy (default `off`). */
  readonly accountMatch?: AccountMatch;
}

/** A connection as the API shows it. */
export interface ConnectionView {
  readonly connection: string;
  readonly status: ConnectionStatus;
  readonly account: PinnedAccount | null;
  readonly checkedAt: string | null;
}

/** A fresh authorization link for the caller. */
export interface AuthorizationLink {
  readonly authorizationUrl: string;
  readonly expiresAt: string;
}

export type ConnectResult =
  | { readonly connection: string; readonly status: 'ACTIVE'; readonly account: PinnedAccount | null }
  | ({ readonly connection: string; readonly status: Exclude<ConnectionStatus, 'ACTIVE' | 'NOT_CONNECTED'> } & AuthorizationLink);

/** The tool each provider offers to learn whose upstream account a connection acts as. */
const WHOAMI_TOOL: Readonly<Record<string, string>> = { asana: 'asana_me_get' };

/**
 * The "who am I" tool of a connection, found by its provider, not its name (Scalekit may name an
 * Asana connection `asana-7fq2`): the provider is the prefix its tools share (`asana_…`).
 */
async function whoamiToolOf(deps: ConnectionsDeps, sub: string, connection: string): Promise<string | undefined> {
  const tools = await deps.accounts.listTools(sub, [connection]);
  const providers = new Set(tools.map((tool) => tool.name.split('_')[0] ?? ''));
  for (const provider of providers) {
    const tool = WHOAMI_TOOL[provider];
    if (tool && tools.some((listed) => listed.name === tool)) return tool;
  }
  return undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Refuses a connection this deployment does not offer (`404 unknown_connection`). */
export function assertKnownConnection(settings: ConnectionSettings, connection: string): void {
  if (!settings.connections.includes(connection)) {
    throw new DomainError('unknown_connection', `No connection named "${connection}" is configured.`);
  }
}

/**
 * Resolves where the browser lands after consent: the deployment's default, a URL under the web
 * console's origin, or a loopback URL of a native client (RFC 8252: any port). Else `400`.
 */
export function resolveVerifyUrl(settings: ConnectionSettings, verifyUrl: string | undefined): string {
  if (verifyUrl === undefined) return settings.defaultVerifyUrl;
  let url: URL;
  try {
    url = new URL(verifyUrl);
  } catch {
    throw invalidVerifyUrl();
  }
  if (url.username || url.password) throw invalidVerifyUrl();
  const loopback = url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost');
  const console = settings.webOrigin !== undefined && url.origin === new URL(settings.webOrigin).origin;
  const isDefault = verifyUrl === settings.defaultVerifyUrl;
  if (!loopback && !console && !isDefault) throw invalidVerifyUrl();
  return url.toString();
}

const invalidVerifyUrl = () =>
  new DomainError('validation_failed', 'verifyUrl is not allowed for this deployment.', [
    { path: 'verifyUrl', message: 'must be the web console, or a loopback http URL' },
  ]);

/**
 * Mints a single-use state under the caller and asks Scalekit for a link bound to the caller's
 * identifier, that state and the verify URL. Used by `connect` and by chat when a connection
 * needs the user.
 */
export async function createAuthorizationLink(
  deps: ConnectionsDeps,
  sub: string,
  connection: string,
  verifyUrl: string,
): Promise<AuthorizationLink> {
  const now = deps.clock.now();
  const state = deps.newState();
  const expiresAt = now + deps.settings.stateTtlSeconds * 1000;
  await deps.store.putState(sub, { state, connection, createdAt: now, expiresAt });
  const link = await deps.accounts.authorizationLink(sub, connection, { state, verifyUrl });
  // The link stops working when the first of the two does: our state or Scalekit's link.
  const until = link.expiresAt !== undefined ? Math.min(expiresAt, link.expiresAt) : expiresAt;
  return { authorizationUrl: link.url, expiresAt: iso(until) };
}

/**
 * Learns whose upstream account the connection acts as, by running the connection's "who am I"
 * tool under the caller. `undefined` when it cannot be told (the tool failed).
 */
async function whoIs(deps: ConnectionsDeps, sub: string, connection: string): Promise<PinnedAccount | undefined> {
  const tool = await whoamiToolOf(deps, sub, connection);
  if (!tool) return undefined;
  const result = await deps.accounts.execute(sub, connection, tool, {});
  if (result.kind !== 'succeeded') return undefined;
  return pinnedAccountOf(result.data);
}

/** Reads `{gid, name, email}` from a tool's data, with or without Asana's `data` envelope. */
export function pinnedAccountOf(data: unknown): PinnedAccount | undefined {
  const record = (value: unknown): Record<string, unknown> | undefined =>
    typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const outer = record(data);
  const user = record(outer?.data) ?? outer;
  if (!user) return undefined;
  const { gid, name, email } = user;
  if (typeof gid !== 'string' || typeof name !== 'string') return undefined;
  return { gid, name, email: typeof email === 'string' ? email : '' };
}

/**
 * Whether the account policy accepts a linked account's email for the caller's. An email that
 * is missing or not an address (on either side) never matches: the policy fails closed.
 */
export function accountMatches(policy: AccountMatch, callerEmail: string | undefined, accountEmail: string | undefined): boolean {
  if (policy === 'off') return true;
  const parts = (email: string | undefined) => {
    const normalized = (email ?? '').trim().toLowerCase();
    const at = normalized.lastIndexOf('@');
    return at > 0 && at < normalized.length - 1 ? { address: normalized, domain: normalized.slice(at + 1) } : undefined;
  };
  const caller = parts(callerEmail);
  const account = parts(accountEmail);
  if (!caller || !account) return false;
  return policy === 'email' ? caller.address === account.address : caller.domain === account.domain;
}

const accountMismatch = () =>
  new DomainError(
    'account_mismatch',
    'The linked Asana account does not belong to you under this deployment’s account policy; it was disconnected. Connect again with your own account.',
  );

/**
 * The caller's email when the account policy needs it. A failure to read it gives the claimed
 * state back (nothing has happened upstream yet), so the verify can be retried.
 */
async function callerEmailForPolicy(
  deps: ConnectionsDeps,
  sub: string,
  request: { authRequestId: string; state: string },
  accessToken: string | undefined,
): Promise<string | undefined> {
  if ((deps.settings.accountMatch ?? 'off') === 'off') return undefined;
  try {
    if (!deps.users || accessToken === undefined) throw new Error('the account policy needs the user directory and the caller’s token');
    return await deps.users.emailOf(accessToken);
  } catch (error) {
    await deps.store.releaseState(sub, request.state, request.authRequestId);
    throw error;
  }
}

/**
 * Applies the account policy to the account a verify linked. On a mismatch the connected account
 * is deleted at Scalekit (so it never stays `ACTIVE`) and forgotten here, the state is marked
 * used with the refusal (a repeat answers the same with no upstream call), and `403
 * account_mismatch` is thrown. If the deletion fails, the state is given back and the failure
 * thrown: the policy is never recorded as applied while the account is still live.
 */
async function enforceAccountPolicy(
  deps: ConnectionsDeps,
  sub: string,
  connection: string,
  request: { authRequestId: string; state: string },
  callerEmail: string | undefined,
  account: PinnedAccount | undefined,
): Promise<void> {
  const policy = deps.settings.accountMatch ?? 'off';
  if (accountMatches(policy, callerEmail, account?.email)) return;
  try {
    await deps.accounts.delete(sub, connection);
  } catch (error) {
    await deps.store.releaseState(sub, request.state, request.authRequestId);
    throw error;
  }
  await deps.store.deleteEntry(sub, connection);
  const checkedAt = iso(deps.clock.now());
  await deps.store.completeState(sub, request.state, request.authRequestId, {
    status: 'NOT_CONNECTED',
    account: null,
    checkedAt,
    accountMismatch: true,
  });
  throw accountMismatch();
}

/** Records a live status in the registry and returns the registry's view of it. */
async function recordLive(
  deps: ConnectionsDeps,
  sub: string,
  connection: string,
  live: ConnectedAccountInfo | undefined,
): Promise<ConnectionView> {
  if (!live) {
    // No account at Scalekit (never made, or revoked): nothing to remember, nothing to show.
    await deps.store.deleteEntry(sub, connection);
    return { connection, status: 'NOT_CONNECTED', account: null, checkedAt: null };
  }
  const checkedAt = iso(deps.clock.now());
  const status: ConnectionStatus = live.status;
  await deps.store.recordStatus(sub, connection, { status, connectedAccountId: live.id, checkedAt });
  let entry = await deps.store.getEntry(sub, connection);
  if (status === 'ACTIVE' && entry && !entry.account) {
    // The account became ACTIVE without us pinning it (e.g. a pin that failed at verify): pin now.
    const account = await whoIs(deps, sub, connection);
    if (account) {
      entry = { ...entry, account };
      await deps.store.putEntry(sub, entry);
    }
  }
  return { connection, status, account: entry?.account ?? null, checkedAt };
}

/**
 * `GET /connections`. Primary course: for every configured connection, read the caller's
 * account live from Scalekit, update the registry, answer. When Scalekit fails, the registry
 * answers instead (what we last knew).
 */
export async function listConnections(deps: ConnectionsDeps, sub: string): Promise<ConnectionView[]> {
  return Promise.all(
    deps.settings.connections.map(async (connection) => {
      let live: ConnectedAccountInfo | undefined;
      try {
        live = await deps.accounts.get(sub, connection);
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        const entry = await deps.store.getEntry(sub, connection);
        return entry
          ? { connection, status: entry.status, account: entry.account ?? null, checkedAt: entry.checkedAt }
          : { connection, status: 'NOT_CONNECTED' as const, account: null, checkedAt: null };
      }
      return recordLive(deps, sub, connection, live);
    }),
  );
}

/**
 * `POST /connections/{connection}`. Primary course: get-or-create the caller's connected
 * account; when ACTIVE answer with the pinned account; otherwise mint a state and a fresh link.
 */
export async function connect(
  deps: ConnectionsDeps,
  sub: string,
  connection: string,
  verifyUrl: string | undefined,
): Promise<ConnectResult> {
  assertKnownConnection(deps.settings, connection);
  const target = resolveVerifyUrl(deps.settings, verifyUrl);
  const account = await deps.accounts.getOrCreate(sub, connection);
  const view = await recordLive(deps, sub, connection, account);
  if (account.status === 'ACTIVE') return { connection, status: 'ACTIVE', account: view.account };
  const link = await createAuthorizationLink(deps, sub, connection, target);
  return { connection, status: account.status, ...link };
}

/**
 * `POST /connections/{connection}/verify`. Primary course: claim the caller's state for this
 * auth request (conditional write), ask Scalekit to verify the request *for the caller's
 * identifier*, mark the state used, pin the upstream account. A refusal or an upstream
 * failure gives the claim back, so the rightful user can still verify. A repeat of a verify
 * that succeeded answers the same, with no upstream call. With an account policy, the caller's
 * email is read first (with their `accessToken`) and the linked account is checked against it
 * before anything is recorded (see {@link enforceAccountPolicy}).
 */
export async function verify(
  deps: ConnectionsDeps,
  sub: string,
  connection: string,
  request: { authRequestId: string; state: string },
  accessToken?: string,
): Promise<ConnectionView & { status: ConnectionStatus }> {
  assertKnownConnection(deps.settings, connection);
  const refused = () =>
    new DomainError('verification_failed', 'This verification does not belong to you, has expired, or was already used.');
  const claim = await deps.store.claimState(sub, request.state, connection, request.authRequestId, deps.clock.now());
  if (claim.kind === 'refused') throw refused();
  if (claim.kind === 'already_verified') {
    // The same answer as the first time, whatever happened to the connection since.
    if (claim.result?.accountMismatch) throw accountMismatch();
    if (claim.result) return { connection, ...claim.result };
    const entry = await deps.store.getEntry(sub, connection);
    return { connection, status: entry?.status ?? 'ACTIVE', account: entry?.account ?? null, checkedAt: entry?.checkedAt ?? null };
  }

  const callerEmail = await callerEmailForPolicy(deps, sub, request, accessToken);

  let outcome: 'verified' | 'refused';
  try {
    outcome = await verifiedOrActive(deps, sub, connection, request.authRequestId);
  } catch (error) {
    await deps.store.releaseState(sub, request.state, request.authRequestId);
    throw error;
  }
  if (outcome === 'refused') {
    await deps.store.releaseState(sub, request.state, request.authRequestId);
    throw refused();
  }

  const now = iso(deps.clock.now());
  const live = await deps.accounts.get(sub, connection).catch(() => undefined);
  const account = await whoIs(deps, sub, connection).catch(() => undefined);
  await enforceAccountPolicy(deps, sub, connection, request, callerEmail, account);
  const previous = await deps.store.getEntry(sub, connection);
  const status = live?.status ?? 'ACTIVE';
  const entry: RegistryEntry = {
    connection,
    status,
    connectedAccountId: live?.id ?? previous?.connectedAccountId,
    account,
    checkedAt: now,
    changedAt: previous?.status === status ? previous.changedAt : now,
  };
  await deps.store.putEntry(sub, entry);
  await deps.store.completeState(sub, request.state, request.authRequestId, { status, account: account ?? null, checkedAt: now });
  return { connection, status, account: account ?? null, checkedAt: now };
}

/**
 * Verifies once (never re-sent). When the verify RPC itself fails, whether it took effect is
 * unknown: the account's status decides. `ACTIVE` counts as verified; anything else (or a status
 * that cannot be read) rethrows the RPC's failure, so the state stays usable for a retry.
 */
async function verifiedOrActive(
  deps: ConnectionsDeps,
  sub: string,
  connection: string,
  authRequestId: string,
): Promise<'verified' | 'refused'> {
  try {
    return await deps.accounts.verify(sub, authRequestId);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    const live = await deps.accounts.get(sub, connection).catch(() => undefined);
    if (live?.status === 'ACTIVE') return 'verified';
    throw error;
  }
}

/** `DELETE /connections/{connection}`: revokes the caller's account at Scalekit and forgets it. Idempotent. */
export async function disconnect(deps: ConnectionsDeps, sub: string, connection: string): Promise<void> {
  assertKnownConnection(deps.settings, connection);
  await deps.accounts.delete(sub, connection);
  await deps.store.deleteEntry(sub, connection);
}

/** What one scheduled status check did. */
export interface StatusCheckSummary {
  /** Accounts of this deployment's users (a registry entry exists) that were checked. */
  readonly checked: number;
  /**
   * Accounts at Scalekit whose identifier has no registry entry here (dashboard tests, other apps
   * sharing the environment): counted, never stored.
   */
  readonly unknownIdentifiers: number;
  readonly changed: number;
  readonly byStatus: Record<string, number>;
  readonly durationMs: number;
}

/**
 * The scheduled `connection-status` check. Primary course: page through every account of every
 * configured connection at Scalekit, read the page's registry entries in one batch, and record
 * each status that moved with a conditional write, so repeated or concurrent runs agree. Only
 * identifiers that already have an entry (users who connected through this deployment) are
 * recorded; the others are counted as `unknownIdentifiers`.
 */
export async function checkConnectionStatuses(
  deps: Pick<ConnectionsDeps, 'accounts' | 'store' | 'clock' | 'settings'>,
  options: { concurrency?: number } = {},
): Promise<StatusCheckSummary> {
  const started = deps.clock.now();
  const byStatus: Record<string, number> = {};
  let checked = 0;
  let changed = 0;
  let unknownIdentifiers = 0;
  const concurrency = options.concurrency ?? 16;
  for (const connection of deps.settings.connections) {
    let pageToken: string | undefined;
    do {
      const page = await deps.accounts.list(connection, pageToken);
      const checkedAt = iso(deps.clock.now());
      // One batched read per page, then a (conditional) write only where the status moved:
      // a quiet run costs reads, not a refused write per account.
      const recorded = await deps.store.statusesOf(
        page.accounts.map((account) => account.identifier),
        connection,
      );
      // Only users who connected through this deployment have an entry; anyone else is not ours to record.
      const ours = page.accounts.filter((account) => recorded.has(account.identifier));
      unknownIdentifiers += page.accounts.length - ours.length;
      const moved = ours.filter((account) => recorded.get(account.identifier) !== account.status);
      for (let i = 0; i < moved.length; i += concurrency) {
        const batch = moved.slice(i, i + concurrency);
        const results = await Promise.all(
          batch.map((account) =>
            deps.store.recordStatus(account.identifier, connection, {
              status: account.status,
              connectedAccountId: account.id,
              checkedAt,
              touch: false,
            }),
          ),
        );
        changed += results.filter(Boolean).length;
      }
      for (const account of ours) byStatus[account.status] = (byStatus[account.status] ?? 0) + 1;
      checked += ours.length;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }
  return { checked, unknownIdentifiers, changed, byStatus, durationMs: deps.clock.now() - started };
}
