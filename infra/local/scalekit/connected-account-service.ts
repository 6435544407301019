import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  type ConnectedAccountForListSchema,
  type ConnectedAccountSchema,
  type ConnectedAccountService,
  ConnectorStatus,
  ConnectorType,
  type OauthToken,
  OauthTokenSchema,
} from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/connected_accounts/connected_accounts_pb.js';
import type { ConnectedAccounts } from './accounts';
import { invalidArgument } from './errors';
import { paginate } from './paging';
import type { ConnectedAccountRecord, ScalekitStore } from './store';

type AccountInit = MessageInitShape<typeof ConnectedAccountSchema>;
type AccountForListInit = MessageInitShape<typeof ConnectedAccountForListSchema>;

/** The fields `ConnectedAccount` and `ConnectedAccountForList` share. */
function commonFields(account: ConnectedAccountRecord) {
  return {
    id: account.id,
    identifier: account.identifier,
    provider: account.provider,
    connector: account.connectionName,
    connectionId: account.connectionId,
    status: ConnectorStatus[account.status],
    authorizationType: ConnectorType.OAUTH,
    updatedAt: timestampFromMs(account.updatedAt),
    ...(account.grant && { tokenExpiresAt: timestampFromMs(account.grant.expiresAt) }),
    ...(account.lastUsedAt !== undefined && { lastUsedAt: timestampFromMs(account.lastUsedAt) }),
  };
}

function listShape(account: ConnectedAccountRecord): AccountForListInit {
  return commonFields(account);
}

/**
 * The account as Scalekit returns it. `withTokens` (the `…Auth` RPCs and create/update) includes the
 * user's OAuth tokens, exactly as real Scalekit does, so the product must keep them out of logs itself.
 */
function accountShape(account: ConnectedAccountRecord, withTokens: boolean): AccountInit {
  const token = create(OauthTokenSchema, {
    scopes: account.grant?.scopes ?? [],
    ...(withTokens && account.grant && { accessToken: account.grant.accessToken, refreshToken: account.grant.refreshToken }),
  });
  return { ...commonFields(account), authorizationDetails: { details: { case: 'oauthToken', value: token } } };
}

/** An OAuth token supplied by a create/update call, if it carries an access token. */
function suppliedToken(details: { details: { case: string | undefined; value?: unknown } } | undefined) {
  if (details?.details.case !== 'oauthToken') return undefined;
  const token = details.details.value as OauthToken;
  if (!token.accessToken) return undefined;
  return { accessToken: token.accessToken, refreshToken: token.refreshToken, scopes: token.scopes };
}

/**
 * The accounts matching one list filter, in creation order. Filters only look at fields that never
 * change, so the last result stays valid until an account is added or deleted: paging through a
 * hundred thousand accounts scans them once, not once per page.
 */
class ListCache {
  private last: { key: string; version: number; accounts: ConnectedAccountRecord[] } | undefined;

  get(store: ScalekitStore, filter: [connector: string, identifier: string, provider: string, query: string, ...names: string[]]) {
    const key = JSON.stringify(filter);
    if (this.last?.key === key && this.last.version === store.membershipVersion) return this.last.accounts;
    const [connector, identifier, provider, query, ...names] = filter;
    const connectionNames = new Set(names);
    const matching: ConnectedAccountRecord[] = [];
    for (const account of store.allAccounts()) {
      if (connector && account.connectionName !== connector) continue;
      if (identifier && account.identifier !== identifier) continue;
      if (provider && account.provider.toLowerCase() !== provider) continue;
      if (connectionNames.size > 0 && !connectionNames.has(account.connectionName)) continue;
      if (query && !account.identifier.toLowerCase().includes(query)) continue;
      matching.push(account);
    }
    this.last = { key, version: store.membershipVersion, accounts: matching };
    return matching;
  }
}

/** Scalekit's `ConnectedAccountService`, as far as `@scalekit-sdk/node` calls it. */
export function connectedAccountService(
  accounts: ConnectedAccounts,
  store: ScalekitStore,
): Partial<ServiceImpl<typeof ConnectedAccountService>> {
  const listCache = new ListCache();
  return {
    // getConnectedAccount / getOrCreateConnectedAccount (its "get" half)
    getConnectedAccountAuth(request) {
      return { connectedAccount: accountShape(accounts.find(request), true) };
    },

    getConnectedAccountDetails(request) {
      return { connectedAccount: accountShape(accounts.find(request), false) };
    },

    getConnectedAccount(request) {
      return { connectedAccount: accountShape(accounts.find({ id: request.id }), false) };
    },

    // createConnectedAccount / getOrCreateConnectedAccount (its "create" half)
    createConnectedAccount(request) {
      if (!request.connector || !request.identifier) throw invalidArgument('connector and identifier are required');
      const token = suppliedToken(request.connectedAccount?.authorizationDetails);
      const account = accounts.create(request.connector, request.identifier, token);
      return { connectedAccount: accountShape(account, true) };
    },

    updateConnectedAccount(request) {
      const account = accounts.find(request);
      const token = suppliedToken(request.connectedAccount?.authorizationDetails);
      return { connectedAccount: accountShape(token ? accounts.updateGrant(account, token) : account, true) };
    },

    async deleteConnectedAccount(request) {
      await accounts.delete(accounts.find(request));
      return {};
    },

    listConnectedAccounts(request) {
      if (request.connector) accounts.connection(request.connector);
      const matching = listCache.get(store, [
        request.connector ?? '',
        request.identifier ?? '',
        request.provider.toLowerCase(),
        request.query.toLowerCase(),
        ...[...request.connectionNames].sort(),
      ]);
      const page = paginate(matching, request.pageSize, request.pageToken);
      return {
        connectedAccounts: page.items.map(listShape),
        totalSize: page.totalSize,
        nextPageToken: page.nextPageToken,
        prevPageToken: page.prevPageToken,
      };
    },

    // getAuthorizationLink
    getMagicLinkForConnectedAccount(request) {
      const account = accounts.find(request);
      const link = accounts.createLink(account, {
        ...(request.state && { state: request.state }),
        ...(request.userVerifyUrl && { userVerifyUrl: request.userVerifyUrl }),
      });
      return { link: accounts.linkUrl(link), expiry: timestampFromMs(link.expiresAt) };
    },

    // verifyConnectedAccountUser
    verifyConnectedAccountUser(request) {
      accounts.verify(request.authRequestId, request.identifier);
      return { postUserVerifyRedirectUrl: accounts.verifiedPageUrl() };
    },
  };
}
