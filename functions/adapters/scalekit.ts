// Deep imports: the package index registers every Scalekit service's descriptors; these four
// are all a function calls, which roughly halves its bundle and cold start (test/bench/README.md, cold start).
import type { JsonObject } from '@bufbuild/protobuf';
import ActionsModule from '@scalekit-sdk/node/lib/actions';
import ConnectionModule from '@scalekit-sdk/node/lib/connection';
import ConnectedAccountsModule from '@scalekit-sdk/node/lib/connected-accounts';
import CoreModule from '@scalekit-sdk/node/lib/core';
import GrpcConnectModule from '@scalekit-sdk/node/lib/connect';
import ToolsModule from '@scalekit-sdk/node/lib/tools';
import { ScalekitServerException } from '@scalekit-sdk/node/lib/errors/base-exception';
import { isToolException, ScalekitToolUnauthorizedException } from '@scalekit-sdk/node/lib/errors/specific-exceptions';
import { ConnectedAccountService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/connected_accounts/connected_accounts_pb';
import { ToolService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/tools/tools_pb';
import { UpstreamError } from '../core/errors';
import type { ConnectedAccountInfo, ToolDefinition, ToolExecution } from '../core/domain';
import type { ConnectedAccounts } from '../core/ports';

/**
 * The SDK's modules are CommonJS with `exports.default`: a bundler or vitest hands us the class,
 * Node's own ESM loader (tsx, `npm start`) the module object. Take the class either way.
 */
const unwrap = <T>(module: T): T => (module as { default?: T }).default ?? module;
const ActionsClient = unwrap(ActionsModule);
const ConnectionClient = unwrap(ConnectionModule);
const ConnectedAccountsClient = unwrap(ConnectedAccountsModule);
const CoreClient = unwrap(CoreModule);
const GrpcConnect = unwrap(GrpcConnectModule);
const ToolsClient = unwrap(ToolsModule);
type ActionsClient = InstanceType<typeof ActionsClient>;
type ToolsClient = InstanceType<typeof ToolsClient>;
type CoreClient = InstanceType<typeof CoreClient>;

/** gRPC status codes (`@connectrpc/connect`'s `Code`), as the SDK's exceptions carry them. */
const GRPC = {
  Canceled: 1,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/** Scalekit's numeric `ConnectorStatus` → its name. */
const STATUS: Record<number, ConnectedAccountInfo['status']> = {
  1: 'ACTIVE',
  2: 'EXPIRED',
  3: 'PENDING_AUTH',
  4: 'PENDING_VERIFICATION',
  5: 'DISCONNECTED',
};

const grpcStatusOf = (error: unknown): number | undefined => {
  const status = (error as { grpcStatus?: unknown } | null)?.grpcStatus;
  return typeof status === 'number' ? status : undefined;
};

/** Socket errors of a service that cannot be reached at all. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Translates an SDK failure into the domain's upstream error (never carrying the payload). */
function upstream(error: unknown): UpstreamError {
  const status = grpcStatusOf(error);
  // A network failure of the token request (axios) carries the socket's error code.
  const network = (error as { code?: unknown } | null)?.code;
  if (status === GRPC.Unavailable || status === GRPC.ResourceExhausted || (typeof network === 'string' && UNREACHABLE.has(network))) {
    return new UpstreamError('unavailable', 'scalekit', 'The connected-accounts service is unavailable. Retrying is safe.');
  }
  if (status === GRPC.DeadlineExceeded || (error instanceof Error && /timeout|ETIMEDOUT/i.test(error.message))) {
    return new UpstreamError('timeout', 'scalekit', 'The connected-accounts service did not answer in time. Retrying is safe.');
  }
  return new UpstreamError('failed', 'scalekit', 'The connected-accounts service failed. Retrying is safe.');
}

/**
 * Failures that prove the request never left this process or never reached Scalekit's service:
 * the connection could not even be opened.
 */
const NOT_SENT_CAUSES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

function neverSent(error: unknown): boolean {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' && NOT_SENT_CAUSES.has(cause.code);
}

/** The SDK's own exception classes for a raw Connect error (what `connectExec` would have thrown). */
function promoted(error: unknown): unknown {
  return typeof (error as { findDetails?: unknown } | null)?.findDetails === 'function'
    ? ScalekitServerException.promote(error as Parameters<typeof ScalekitServerException.promote>[0])
    : error;
}

/** gRPC status names, for messages that say what happened without echoing a payload. */
const CODE_NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  4: 'DEADLINE_EXCEEDED',
  10: 'ABORTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
};

interface AccountMessage {
  id: string;
  identifier: string;
  status: number;
  connector?: string;
}

/** Only the non-secret fields: Scalekit's account messages also carry the user's OAuth tokens. */
const infoOf = (account: AccountMessage, connection: string): ConnectedAccountInfo => ({
  id: account.id,
  identifier: account.identifier,
  connection,
  status: STATUS[account.status] ?? 'DISCONNECTED',
});

/**
 * The client-credentials token of the environment, fetched before an at-most-once RPC so that RPC
 * is never answered `Unauthenticated` and re-sent (what the SDK does on a cold start). Shared with
 * the SDK's own calls through `core.accessToken`.
 */
class EnvironmentToken {
  private expiresAt = 0;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly core: CoreClient,
    private readonly credentials: { clientId: string; clientSecret: string },
  ) {}

  /** A token valid for at least another minute. */
  async ensure(): Promise<void> {
    if (this.core.accessToken && Date.now() < this.expiresAt) return;
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    await this.pending;
  }

  /** Scalekit refused the token: fetch a new one before the next call. */
  discard(): void {
    this.expiresAt = 0;
  }

  private async fetch(): Promise<void> {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.credentials.clientId,
      client_secret: this.credentials.clientSecret,
    });
    const response = await this.core.authenticate(body.toString());
    const lifetime = Number(response.data.expires_in);
    this.core.accessToken = response.data.access_token;
    this.expiresAt = Date.now() + (Number.isFinite(lifetime) && lifetime > 120 ? lifetime - 60 : 60) * 1000;
  }
}

/**
 * {@link ConnectedAccounts} over `@scalekit-sdk/node`. `ExecuteTool` and `VerifyConnectedAccountUser`
 * go through the generated Connect clients of the SDK's own descriptors, sent exactly once: the
 * SDK's `connectExec` re-sends a call answered `Unavailable` up to three times, which could run
 * one Asana write four times.
 */
export class ScalekitConnectedAccounts implements ConnectedAccounts {
  private readonly actions: ActionsClient;
  private readonly tools: ToolsClient;
  private readonly core: CoreClient;
  private readonly token: EnvironmentToken;
  private readonly toolService;
  private readonly accountService;

  constructor(options: { environmentUrl: string; clientId: string; clientSecret: string; timeoutMs?: number }) {
    const core = new CoreClient(options.environmentUrl, options.clientId, options.clientSecret, options.timeoutMs, options.timeoutMs);
    const grpc = new GrpcConnect(core);
    this.core = core;
    this.token = new EnvironmentToken(core, options);
    this.tools = new ToolsClient(grpc, core);
    this.actions = new ActionsClient(this.tools, new ConnectedAccountsClient(grpc, core), core, new ConnectionClient(grpc, core));
    // The SDK's transport (its headers and token interceptor), without its retrying wrapper.
    this.toolService = grpc.createClient(ToolService);
    this.accountService = grpc.createClient(ConnectedAccountService);
  }

  /** Fetches the token first; a failure here means nothing was sent. */
  private async tokenFirst(): Promise<void> {
    try {
      await this.token.ensure();
    } catch (error) {
      throw upstream(error);
    }
  }

  async getOrCreate(identifier: string, connection: string): Promise<ConnectedAccountInfo> {
    try {
      const response = await this.actions.getOrCreateConnectedAccount({ connectionName: connection, identifier });
      if (!response.connectedAccount) throw new Error('no account in response');
      return infoOf(response.connectedAccount, connection);
    } catch (error) {
      throw upstream(error);
    }
  }

  /**
   * The account's status from `ListConnectedAccounts` filtered to one identifier and connection:
   * the list answers no credentials, where `GetConnectedAccountAuth` would hand the user's OAuth
   * tokens to this function.
   */
  async get(identifier: string, connection: string): Promise<ConnectedAccountInfo | undefined> {
    try {
      const response = await this.actions.listConnectedAccounts({ connectionName: connection, identifier, pageSize: 2 });
      const account = response.connectedAccounts.find((candidate) => candidate.identifier === identifier);
      return account ? infoOf(account, connection) : undefined;
    } catch (error) {
      if (grpcStatusOf(error) === GRPC.NotFound) return undefined;
      throw upstream(error);
    }
  }

  async authorizationLink(
    identifier: string,
    connection: string,
    options: { state: string; verifyUrl: string },
  ): Promise<{ url: string; expiresAt?: number }> {
    try {
      const response = await this.actions.getAuthorizationLink({
        connectionName: connection,
        identifier,
        state: options.state,
        userVerifyUrl: options.verifyUrl,
      });
      const expiry = response.expiry;
      const expiresAt = expiry ? Number(expiry.seconds) * 1000 + Math.floor(expiry.nanos / 1e6) : undefined;
      return { url: response.link, expiresAt };
    } catch (error) {
      throw upstream(error);
    }
  }

  async verify(identifier: string, authRequestId: string): Promise<'verified' | 'refused'> {
    await this.tokenFirst();
    try {
      await this.accountService.verifyConnectedAccountUser({ authRequestId, identifier }, { timeoutMs: this.core.timeoutMs });
      return 'verified';
    } catch (raw) {
      const error = promoted(raw);
      const status = grpcStatusOf(error);
      if (status === GRPC.Unauthenticated) this.token.discard();
      if (
        status === GRPC.PermissionDenied ||
        status === GRPC.NotFound ||
        status === GRPC.InvalidArgument ||
        status === GRPC.FailedPrecondition
      ) {
        return 'refused';
      }
      throw upstream(error);
    }
  }

  async delete(identifier: string, connection: string): Promise<void> {
    try {
      await this.actions.deleteConnectedAccount({ connectionName: connection, identifier });
    } catch (error) {
      if (grpcStatusOf(error) === GRPC.NotFound) return;
      throw upstream(error);
    }
  }

  async list(connection: string, pageToken?: string): Promise<{ accounts: ConnectedAccountInfo[]; nextPageToken?: string }> {
    try {
      const response = await this.actions.listConnectedAccounts({ connectionNames: [connection], pageSize: 100, pageToken });
      return {
        accounts: response.connectedAccounts.map((account) => infoOf(account, connection)),
        nextPageToken: response.nextPageToken || undefined,
      };
    } catch (error) {
      throw upstream(error);
    }
  }

  async listTools(identifier: string, connections: readonly string[]): Promise<ToolDefinition[]> {
    const tools: ToolDefinition[] = [];
    let pageToken: string | undefined;
    try {
      do {
        const page = await this.tools.listScopedTools(identifier, {
          filter: { connectionNames: [...connections] },
          pageSize: 100,
          pageToken,
        });
        for (const scoped of page.tools) {
          const definition = scoped.tool?.definition as Record<string, unknown> | undefined;
          if (!definition || typeof definition.name !== 'string') continue;
          tools.push({
            name: definition.name,
            description: typeof definition.description === 'string' ? definition.description : '',
            input_schema: (definition.input_schema as Record<string, unknown> | undefined) ?? { type: 'object', properties: {} },
          });
        }
        pageToken = page.nextPageToken || undefined;
      } while (pageToken);
    } catch (error) {
      if (grpcStatusOf(error) === GRPC.NotFound) return [];
      throw upstream(error);
    }
    return tools;
  }

  async execute(
    identifier: string,
    connection: string,
    toolName: string,
    input: Record<string, unknown>,
    options: { signal?: AbortSignal } = {},
  ): Promise<ToolExecution> {
    // JSON round-trip: `undefined` would reach the wire as `null`.
    const params = JSON.parse(JSON.stringify(input)) as JsonObject;
    await this.tokenFirst();
    if (options.signal?.aborted) throw new UpstreamError('timeout', 'scalekit', 'The tool call was abandoned before it was sent.');
    try {
      const response = await this.toolService.executeTool(
        { toolName, identifier, connector: connection, params },
        { timeoutMs: this.core.toolTimeoutMs, signal: options.signal },
      );
      return { kind: 'succeeded', data: response.data ?? null, executionId: response.executionId };
    } catch (raw) {
      if (neverSent(raw)) throw upstream(raw);
      const error = promoted(raw);
      // The SDK's own classes first: a tool error carries the provider's answer.
      if (error instanceof ScalekitToolUnauthorizedException || (isToolException(error) && error.toolErrorCode === '401')) {
        // The provider refused the grant (Scalekit's refresh failed): *maybe* gone; the caller reads the status.
        return { kind: 'not_authorized', message: error.toolErrorMessage || 'The provider refused the connection.' };
      }
      if (isToolException(error)) {
        // The provider answered (an Asana 403 or 404 included): an ordinary failure.
        return { kind: 'failed', message: error.toolErrorMessage || 'The tool failed.', executionId: error.executionId || undefined };
      }
      const status = grpcStatusOf(error);
      // Refused by Scalekit without the provider's detail: which code real Scalekit uses for an
      // inactive account is not documented, so these only *may* mean the grant is gone.
      if (status === GRPC.FailedPrecondition || status === GRPC.PermissionDenied || status === GRPC.NotFound) {
        return { kind: 'not_authorized', message: error instanceof Error ? firstLine(error.message) : 'Scalekit refused the call.' };
      }
      if (status === GRPC.InvalidArgument) {
        return { kind: 'failed', message: error instanceof Error ? firstLine(error.message) : 'Invalid tool input.' };
      }
      // Refused at Scalekit's door (our token, its rate limit): the tool did not run.
      if (status === GRPC.Unauthenticated || status === GRPC.ResourceExhausted) {
        if (status === GRPC.Unauthenticated) this.token.discard();
        throw upstream(error);
      }
      // Sent, and no answer says what happened: the tool may have run. Never re-sent.
      const code = status === undefined ? 'no answer' : (CODE_NAMES[status] ?? `gRPC ${status}`);
      return { kind: 'unknown', message: `The tool service failed (${code}); whether the tool took effect is unknown.` };
    }
  }
}

/** The SDK's messages span several lines of diagnostics; the first says what went wrong. */
const firstLine = (message: string) =>
  message
    .split('\n')
    .find((line) => line.trim() !== '')
    ?.trim() ?? message;
