// Deep imports: the package index registers every Scalekit service's descriptors; these four
// are all a function calls, which roughly halves its bundle and cold start (DEPENDENCIES.md).
import ActionsModule from '@scalekit-sdk/node/lib/actions';
import ConnectionModule from '@scalekit-sdk/node/lib/connection';
import ConnectedAccountsModule from '@scalekit-sdk/node/lib/connected-accounts';
import CoreModule from '@scalekit-sdk/node/lib/core';
import GrpcConnectModule from '@scalekit-sdk/node/lib/connect';
import ToolsModule from '@scalekit-sdk/node/lib/tools';
import { isToolException } from '@scalekit-sdk/node/lib/errors/specific-exceptions';
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

/** gRPC status codes (`@connectrpc/connect`'s `Code`), as the SDK's exceptions carry them. */
const GRPC = {
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

/** Translates an SDK failure into the domain's upstream error (never carrying the payload). */
function upstream(error: unknown): UpstreamError {
  const status = grpcStatusOf(error);
  if (status === GRPC.Unavailable || status === GRPC.ResourceExhausted) {
    return new UpstreamError('unavailable', 'scalekit', 'The connected-accounts service is unavailable. Retrying is safe.');
  }
  if (status === GRPC.DeadlineExceeded || (error instanceof Error && /timeout|ETIMEDOUT/i.test(error.message))) {
    return new UpstreamError('timeout', 'scalekit', 'The connected-accounts service did not answer in time. Retrying is safe.');
  }
  return new UpstreamError('failed', 'scalekit', 'The connected-accounts service failed. Retrying is safe.');
}

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

/** {@link ConnectedAccounts} over `@scalekit-sdk/node`. */
export class ScalekitConnectedAccounts implements ConnectedAccounts {
  private readonly actions: ActionsClient;
  private readonly tools: ToolsClient;

  constructor(options: { environmentUrl: string; clientId: string; clientSecret: string; timeoutMs?: number }) {
    const core = new CoreClient(options.environmentUrl, options.clientId, options.clientSecret, options.timeoutMs, options.timeoutMs);
    const grpc = new GrpcConnect(core);
    this.tools = new ToolsClient(grpc, core);
    this.actions = new ActionsClient(this.tools, new ConnectedAccountsClient(grpc, core), core, new ConnectionClient(grpc, core));
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

  async get(identifier: string, connection: string): Promise<ConnectedAccountInfo | undefined> {
    try {
      const response = await this.actions.getConnectedAccount({ connectionName: connection, identifier });
      return response.connectedAccount ? infoOf(response.connectedAccount, connection) : undefined;
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
    try {
      await this.actions.verifyConnectedAccountUser({ authRequestId, identifier });
      return 'verified';
    } catch (error) {
      const status = grpcStatusOf(error);
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

  async execute(identifier: string, connection: string, toolName: string, input: Record<string, unknown>): Promise<ToolExecution> {
    try {
      // JSON round-trip: `undefined` would reach the wire as `null`.
      const toolInput = JSON.parse(JSON.stringify(input)) as Record<string, unknown>;
      const response = await this.actions.executeTool({ toolName, toolInput, identifier, connector: connection });
      return { kind: 'succeeded', data: response.data ?? null, executionId: response.executionId };
    } catch (error) {
      if (isToolException(error)) {
        // The provider answered 401 after Scalekit's refresh failed: the user must reconnect.
        if (grpcStatusOf(error) === GRPC.Unauthenticated || error.toolErrorCode === '401') {
          return { kind: 'not_authorized', message: 'The connection needs to be authorized again.' };
        }
        return { kind: 'failed', message: error.toolErrorMessage || 'The tool failed.', executionId: error.executionId || undefined };
      }
      const status = grpcStatusOf(error);
      if (status === GRPC.FailedPrecondition || status === GRPC.PermissionDenied || status === GRPC.NotFound) {
        return { kind: 'not_authorized', message: 'The connection is not active.' };
      }
      if (status === GRPC.InvalidArgument) {
        return { kind: 'failed', message: error instanceof Error ? firstLine(error.message) : 'Invalid tool input.' };
      }
      throw upstream(error);
    }
  }
}

/** The SDK's messages span several lines of diagnostics; the first says what went wrong. */
const firstLine = (message: string) =>
  message
    .split('\n')
    .find((line) => line.trim() !== '')
    ?.trim() ?? message;
