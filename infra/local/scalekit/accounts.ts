import { Code } from '@connectrpc/connect';
import { ASANA_REQUESTED_SCOPES, AsanaGrantRefusedError, type AsanaOAuthClient } from './asana-oauth';
import { invalidArgument, notFound, scalekitError } from './errors';
import {
  type AccountStatus,
  type AuthRequestRecord,
  type ConnectedAccountRecord,
  type OAuthGrant,
  type ScalekitStore,
  newId,
} from './store';

/** A connection configured in the emulated Scalekit environment (all of them Asana here). */
export interface ConnectionConfig {
  name: string;
  id: string;
  provider: string;
}

/** How an RPC names an account: by id, or by connection name + identifier. */
export interface AccountSelector {
  id?: string | undefined;
  connector?: string | undefined;
  identifier?: string | undefined;
}

/** What the browser should be sent to after a consent hop. */
export type ConsentOutcome = { kind: 'redirect'; location: string } | { kind: 'page'; status: number; title: string; text: string };

export interface SeedAccount {
  identifier: string;
  /** Connection name; default: the first configured connection. */
  connection?: string;
  /** Default `ACTIVE`. */
  status?: AccountStatus;
  /** Scopes of the seeded grant; default read-write. Seeded grants hold no usable Asana token. */
  scopes?: string[];
}

/** Access tokens are refreshed this long before they expire, as a token vault does. */
const REFRESH_MARGIN_MS = 30_000;

/**
 * The connected-account lifecycle of the emulated Scalekit environment: get/create/delete, authorization
 * links through the consent hops, user verification, status changes and token refresh.
 */
export class ConnectedAccounts {
  private readonly connections: Map<string, ConnectionConfig>;
  private readonly refreshes = new Map<OAuthGrant, Promise<OAuthGrant | undefined>>();

  constructor(
    private readonly store: ScalekitStore,
    private readonly oauth: AsanaOAuthClient,
    private readonly options: {
      envUrl: () => string;
      connections: ConnectionConfig[];
      linkTtlMs: number;
    },
  ) {
    this.connections = new Map(options.connections.map((c) => [c.name, c]));
  }

  private now(): number {
    return Date.now();
  }

  connection(name: string): ConnectionConfig {
    const connection = this.connections.get(name);
    if (!connection) throw notFound(`connection ${name} not found`);
    return connection;
  }

  /** The account an RPC names, or `NotFound`. */
  find(selector: AccountSelector): ConnectedAccountRecord {
    if (selector.id) {
      const account = this.store.accountById(selector.id);
      if (!account) throw notFound(`connected account ${selector.id} not found`);
      return account;
    }
    if (!selector.connector || !selector.identifier) {
      throw invalidArgument('either id or connector and identifier are required');
    }
    this.connection(selector.connector);
    const account = this.store.accountByKey(selector.connector, selector.identifier);
    if (!account) throw notFound(`connected account not found for connector ${selector.connector}`);
    return account;
  }

  /** Creates a `PENDING_AUTH` account, or `ACTIVE` when a usable OAuth token is supplied; `AlreadyExists` if the key is taken. */
  create(connector: string, identifier: string, grant?: Omit<OAuthGrant, 'expiresAt' | 'providerUserId'>): ConnectedAccountRecord {
    const connection = this.connection(connector);
    if (!identifier.trim()) throw invalidArgument('identifier is required');
    if (this.store.accountByKey(connector, identifier)) {
      throw scalekitError(Code.AlreadyExists, 'ALREADY_EXISTS', `connected account already exists for connector ${connector}`);
    }
    const now = this.now();
    const account: ConnectedAccountRecord = {
      id: newId('ca'),
      connectionName: connection.name,
      connectionId: connection.id,
      provider: connection.provider,
      identifier,
      status: 'PENDING_AUTH',
      createdAt: now,
      updatedAt: now,
    };
    if (grant?.accessToken) {
      account.grant = { ...grant, expiresAt: now + 3_600_000, providerUserId: '' };
      account.status = 'ACTIVE';
    }
    this.store.putAccount(account);
    return account;
  }

  /** Replaces the account's OAuth token (an upsert with credentials); a usable token makes it `ACTIVE`. */
  updateGrant(account: ConnectedAccountRecord, grant: Omit<OAuthGrant, 'expiresAt' | 'providerUserId'>): ConnectedAccountRecord {
    if (grant.accessToken) {
      account.grant = { ...grant, expiresAt: this.now() + 3_600_000, providerUserId: account.grant?.providerUserId ?? '' };
      account.status = 'ACTIVE';
      account.updatedAt = this.now();
      this.save(account);
    }
    return account;
  }

  /** Deletes the account and revokes its grant at Asana. */
  async delete(account: ConnectedAccountRecord): Promise<void> {
    this.store.deleteAccount(account);
    if (account.grant?.refreshToken) {
      await this.oauth.revoke(account.grant).catch(() => undefined);
    }
  }

  setStatus(account: ConnectedAccountRecord, status: AccountStatus): void {
    account.status = status;
    account.updatedAt = this.now();
    this.save(account);
  }

  /** Writes back an account that still exists (a deleted account is not revived by a late update). */
  private save(account: ConnectedAccountRecord): void {
    if (this.store.accountById(account.id) === account) this.store.putAccount(account);
  }

  /** Makes the account's access token due for refresh (tests: the next execution refreshes it first). */
  expireAccessToken(account: ConnectedAccountRecord): void {
    if (!account.grant) return;
    account.grant.expiresAt = this.now() - 1;
    this.save(account);
  }

  /**
   * Adds or updates many accounts in one go (the status checker's scale figure): no Asana round trip,
   * one state-file write. Returns the accounts in input order.
   */
  seed(accounts: SeedAccount[]): ConnectedAccountRecord[] {
    const now = this.now();
    const defaultConnection = this.options.connections[0]?.name ?? 'asana';
    return accounts.map((seed) => {
      const connection = this.connection(seed.connection ?? defaultConnection);
      const status = seed.status ?? 'ACTIVE';
      const existing = this.store.accountByKey(connection.name, seed.identifier);
      const account: ConnectedAccountRecord = existing ?? {
        id: newId('ca'),
        connectionName: connection.name,
        connectionId: connection.id,
        provider: connection.provider,
        identifier: seed.identifier,
        status,
        createdAt: now,
        updatedAt: now,
      };
      account.status = status;
      account.updatedAt = now;
      if (status === 'ACTIVE' || status === 'EXPIRED') {
        account.grant = {
          // Placeholders Asana does not know: a seeded account lists tools, but a call with it fails.
          accessToken: 'seeded-without-asana-grant',
          refreshToken: 'seeded-without-asana-grant',
          expiresAt: now + 3_600_000,
          scopes: seed.scopes ?? [...ASANA_REQUESTED_SCOPES],
          providerUserId: '',
        };
      }
      this.store.putAccount(account);
      return account;
    });
  }

  // Authorization links

  /** A single-flow authorization link for the account, honouring the app's `state` and `userVerifyUrl`. */
  createLink(account: ConnectedAccountRecord, options: { state?: string; userVerifyUrl?: string }): AuthRequestRecord {
    if (options.userVerifyUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(options.userVerifyUrl)) {
      throw invalidArgument('user_verify_url must be an absolute http(s) URL');
    }
    const now = this.now();
    this.store.pruneAuthRequests(now);
    const request: AuthRequestRecord = {
      linkId: newId('lnk', 16),
      accountId: account.id,
      connectionName: account.connectionName,
      identifier: account.identifier,
      ...(options.state !== undefined && { state: options.state }),
      ...(options.userVerifyUrl !== undefined && { userVerifyUrl: options.userVerifyUrl }),
      providerState: newId('st', 16),
      createdAt: now,
      expiresAt: now + this.options.linkTtlMs,
      phase: 'issued',
    };
    this.store.putAuthRequest(request);
    return request;
  }

  linkUrl(request: AuthRequestRecord): string {
    return `${this.options.envUrl()}/magicLink/${request.linkId}`;
  }

  /** Where Scalekit tells the app to send the user once verified. */
  verifiedPageUrl(): string {
    return `${this.options.envUrl()}/connect/verified`;
  }

  callbackUrl(connectionId: string): string {
    return `${this.options.envUrl()}/sso/v1/oauth/${connectionId}/callback`;
  }

  /** Hop 1: the magic link sends the browser to Asana's consent page. */
  openLink(linkId: string): ConsentOutcome {
    const request = this.store.authRequestByLinkId(linkId);
    if (!request) return { kind: 'page', status: 404, title: 'Link not found', text: 'This authorization link does not exist.' };
    if (request.expiresAt <= this.now()) {
      return { kind: 'page', status: 410, title: 'Link expired', text: 'This authorization link has expired. Ask for a new one.' };
    }
    if (request.phase !== 'issued') {
      return { kind: 'page', status: 410, title: 'Link already used', text: 'This authorization link has already been used.' };
    }
    const account = this.store.accountById(request.accountId);
    if (!account) return { kind: 'page', status: 404, title: 'Link not found', text: 'The account of this link no longer exists.' };
    return { kind: 'redirect', location: this.oauth.authorizeUrl(this.callbackUrl(account.connectionId), request.providerState) };
  }

  /**
   * Hop 2: Asana sends the browser back with a code. The code is exchanged, the tokens are held on the
   * authorization request, the account waits in `PENDING_VERIFICATION`, and the browser goes on to
   * `userVerifyUrl?auth_request_id=…&state=…`. Without a `userVerifyUrl` the account is activated here.
   */
  async completeConsent(connectionId: string, query: URLSearchParams): Promise<ConsentOutcome> {
    const providerState = query.get('state') ?? '';
    const request = providerState ? this.store.authRequestByProviderState(providerState) : undefined;
    if (!request || this.connection(request.connectionName).id !== connectionId) {
      return { kind: 'page', status: 400, title: 'Unknown authorization', text: 'This authorization response does not match any link.' };
    }
    if (request.expiresAt <= this.now()) {
      return { kind: 'page', status: 410, title: 'Link expired', text: 'This authorization link has expired. Ask for a new one.' };
    }
    if (request.phase !== 'issued') {
      return { kind: 'page', status: 410, title: 'Link already used', text: 'This authorization link has already been used.' };
    }
    const error = query.get('error');
    const code = query.get('code');
    if (error || !code) {
      return {
        kind: 'page',
        status: 400,
        title: 'Authorization refused',
        text: `Asana did not authorize the connection (${error ?? 'no code'}).`,
      };
    }
    let grant: OAuthGrant;
    try {
      grant = await this.oauth.exchangeCode(code, this.callbackUrl(connectionId));
    } catch (cause) {
      const refused = cause instanceof AsanaGrantRefusedError;
      return {
        kind: 'page',
        status: refused ? 400 : 502,
        title: 'Authorization failed',
        text: refused ? 'Asana refused the authorization code.' : 'Asana could not be reached.',
      };
    }
    const account = this.store.accountById(request.accountId);
    if (!account) return { kind: 'page', status: 404, title: 'Account gone', text: 'The account of this link no longer exists.' };

    request.authRequestId = newId('ar', 16);
    if (request.userVerifyUrl === undefined) {
      request.phase = 'verified';
      this.store.putAuthRequest(request);
      this.activate(account, grant);
      return { kind: 'page', status: 200, title: 'Connected', text: 'Your Asana account is connected. You can close this window.' };
    }
    request.phase = 'consented';
    request.pendingGrant = grant;
    this.store.putAuthRequest(request);
    // An ACTIVE account keeps working on its current grant until the new one is verified.
    if (account.status !== 'ACTIVE') this.setStatus(account, 'PENDING_VERIFICATION');
    const location = new URL(request.userVerifyUrl);
    location.searchParams.set('auth_request_id', request.authRequestId);
    if (request.state !== undefined) location.searchParams.set('state', request.state);
    return { kind: 'redirect', location: location.toString() };
  }

  /**
   * The app asserts which of its users completed the consent. Only the identifier the link was made for
   * activates the account; a mismatch is `PermissionDenied` and consumes nothing; an unknown, consumed
   * or expired request is `NotFound`.
   */
  verify(authRequestId: string, identifier: string): ConnectedAccountRecord {
    const request = this.store.authRequestById(authRequestId);
    if (request?.phase !== 'consented' || !request.pendingGrant) {
      throw notFound('auth request not found or already used');
    }
    if (request.expiresAt <= this.now()) throw notFound('auth request has expired');
    if (request.identifier !== identifier) {
      throw scalekitError(Code.PermissionDenied, 'USER_VERIFICATION_FAILED', 'identifier does not match the auth request');
    }
    const account = this.store.accountById(request.accountId);
    if (!account) throw notFound('connected account of the auth request no longer exists');
    const grant = request.pendingGrant;
    request.phase = 'verified';
    delete request.pendingGrant;
    this.store.putAuthRequest(request);
    this.activate(account, grant);
    return account;
  }

  private activate(account: ConnectedAccountRecord, grant: OAuthGrant): void {
    account.grant = grant;
    this.setStatus(account, 'ACTIVE');
  }

  // Tokens

  /**
   * The account's grant with a live access token: refreshed first when due (or when `force`d after
   * Asana refused the token). A refused refresh moves the account to `EXPIRED` and returns `undefined`.
   */
  async freshGrant(account: ConnectedAccountRecord, force = false): Promise<OAuthGrant | undefined> {
    const grant = account.grant;
    if (!grant) return undefined;
    if (!force && grant.expiresAt - REFRESH_MARGIN_MS > this.now()) return grant;
    // Parallel tool calls share one refresh: Asana may rotate the refresh token, so a second use would fail.
    const inFlight = this.refreshes.get(grant);
    if (inFlight) return inFlight;
    const refresh = this.refresh(account, grant).finally(() => this.refreshes.delete(grant));
    this.refreshes.set(grant, refresh);
    return refresh;
  }

  private async refresh(account: ConnectedAccountRecord, grant: OAuthGrant): Promise<OAuthGrant | undefined> {
    let refreshed: OAuthGrant;
    try {
      refreshed = await this.oauth.refresh(grant);
    } catch (cause) {
      if (!(cause instanceof AsanaGrantRefusedError)) throw cause;
      // Only an account still on this grant expires: a concurrent re-consent may have replaced it.
      if (account.grant === grant) this.setStatus(account, 'EXPIRED');
      return undefined;
    }
    if (account.grant !== grant) return account.grant;
    account.grant = refreshed;
    account.updatedAt = this.now();
    this.save(account);
    return refreshed;
  }

  touch(account: ConnectedAccountRecord): void {
    account.lastUsedAt = this.now();
    this.store.changed();
  }
}
