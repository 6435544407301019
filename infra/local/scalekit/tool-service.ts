import type { JsonObject, MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { ScopedToolSchema, ToolService } from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/tools/tools_pb.js';
import type { ConnectedAccounts } from './accounts';
import { codeForProviderStatus, invalidArgument, invalidToolInput, notFound, scalekitError, toolError } from './errors';
import { paginate } from './paging';
import { type ConnectedAccountRecord, type ExecutionOutcome, newId, type ScalekitStore } from './store';
import { ASANA_PROVIDER, ASANA_TOOLS, type CatalogTool, findTool, grantAllows, validateToolInput } from './tool-catalog';

/** What the provider answered to one tool call. */
export interface ProviderResponse {
  status: number;
  body: unknown;
}

/** Runs one catalog tool against the provider with a user's access token (the local Asana here). */
export interface ToolRunner {
  run(tool: CatalogTool, input: Readonly<Record<string, unknown>>, accessToken: string): Promise<ProviderResponse>;
}

/** Test knobs of the tool path (`_control/latency`). */
export interface ToolSettings {
  /** Added before every tool execution reaches the provider. */
  latencyMs: number;
  /** Per tool name, instead of `latencyMs`: only that tool's executions wait. */
  toolLatencyMs: Record<string, number>;
}

type ScopedToolInit = MessageInitShape<typeof ScopedToolSchema>;

function scopedTool(tool: CatalogTool, account: ConnectedAccountRecord): ScopedToolInit {
  const definition: JsonObject = { name: tool.name, description: tool.description, input_schema: tool.input_schema };
  return {
    tool: { id: `tool_${tool.name}`, provider: account.provider, definition, tags: [tool.kind] },
    identifier: account.identifier,
    connectedAccountId: account.id,
  };
}

function providerMessage(body: unknown, status: number): string {
  if (typeof body === 'object' && body !== null && 'errors' in body && Array.isArray(body.errors)) {
    const first: unknown = body.errors[0];
    if (typeof first === 'object' && first !== null && 'message' in first && typeof first.message === 'string') return first.message;
  }
  return `provider answered HTTP ${status}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Scalekit's `ToolService`: the scoped tool list of an identifier, and tool execution under a connected account. */
export function toolService(
  accounts: ConnectedAccounts,
  store: ScalekitStore,
  runner: ToolRunner,
  settings: ToolSettings,
): Partial<ServiceImpl<typeof ToolService>> {
  /** The account an execution runs under, resolved as Scalekit does. */
  function resolveAccount(
    tool: CatalogTool,
    request: { connectedAccountId?: string | undefined; identifier?: string | undefined; connector?: string | undefined },
  ): ConnectedAccountRecord {
    let account: ConnectedAccountRecord;
    if (request.connectedAccountId) {
      account = accounts.find({ id: request.connectedAccountId });
    } else if (!request.identifier) {
      throw invalidArgument('either connected_account_id or identifier is required');
    } else if (request.connector) {
      account = accounts.find({ connector: request.connector, identifier: request.identifier });
    } else {
      // Without a connector, the identifier must name exactly one account of the tool's provider.
      const [only, ...others] = store.accountsOf(request.identifier).filter((a) => a.provider === ASANA_PROVIDER);
      if (!only) throw notFound(`no connected account found for identifier and tool ${tool.name}`);
      if (others.length > 0) throw invalidArgument('identifier has several connected accounts for this provider: give the connector');
      account = only;
    }
    if (account.provider !== ASANA_PROVIDER)
      throw invalidArgument(`tool ${tool.name} does not belong to connector ${account.connectionName}`);
    return account;
  }

  return {
    // tools.listScopedTools
    listScopedTools(request) {
      if (!request.identifier) throw invalidArgument('identifier is required');
      const connectionNames = new Set(request.filter?.connectionNames ?? []);
      const providers = new Set((request.filter?.providers ?? []).map((p) => p.toUpperCase()));
      const toolNames = new Set(request.filter?.toolNames ?? []);
      const tools: ScopedToolInit[] = [];
      for (const account of store.accountsOf(request.identifier)) {
        if (account.status !== 'ACTIVE' || !account.grant) continue;
        if (connectionNames.size > 0 && !connectionNames.has(account.connectionName)) continue;
        if (providers.size > 0 && !providers.has(account.provider.toUpperCase())) continue;
        for (const tool of ASANA_TOOLS) {
          if (toolNames.size > 0 && !toolNames.has(tool.name)) continue;
          if (grantAllows(tool, account.grant.scopes)) tools.push(scopedTool(tool, account));
        }
      }
      const page = paginate(tools, request.pageSize, request.pageToken);
      return { tools: page.items, totalSize: page.totalSize, nextPageToken: page.nextPageToken, prevPageToken: page.prevPageToken };
    },

    // actions.executeTool / tools.executeTool
    async executeTool(request) {
      const tool = findTool(request.toolName);
      if (!tool) throw notFound(`tool ${request.toolName} not found`);
      const account = resolveAccount(tool, request);
      const input: Record<string, unknown> = request.params ?? {};
      const violations = validateToolInput(tool, input);
      if (violations.length > 0) throw invalidToolInput(tool.name, violations);
      if (account.status !== 'ACTIVE') {
        throw scalekitError(
          Code.FailedPrecondition,
          'CONNECTED_ACCOUNT_NOT_ACTIVE',
          `connected account is not active (status ${account.status}); re-authorize it`,
        );
      }

      const executionId = newId('exec');
      const startedAt = new Date().toISOString();
      let outcome: ExecutionOutcome = 'failed';
      try {
        // Only the execution waits (never listing tools or reading accounts), and a tool with its own latency waits that long.
        const latencyMs = settings.toolLatencyMs[tool.name] ?? settings.latencyMs;
        if (latencyMs > 0) await sleep(latencyMs);
        let grant = await accounts.freshGrant(account);
        let response = grant ? await runner.run(tool, input, grant.accessToken) : undefined;
        // Asana refused the token (revoked or expired early): refresh once and retry, as a token vault does.
        if (response?.status === 401) {
          grant = await accounts.freshGrant(account, true);
          response = grant ? await runner.run(tool, input, grant.accessToken) : undefined;
        }
        if (!response) {
          throw toolError({
            code: Code.Unauthenticated,
            message: 'the connected account could not be refreshed and has expired; re-authorize it',
            executionId,
            toolErrorCode: 'TOKEN_EXPIRED',
          });
        }
        if (response.status < 200 || response.status >= 300) {
          throw toolError({
            code: codeForProviderStatus(response.status),
            message: providerMessage(response.body, response.status),
            executionId,
            toolErrorCode: String(response.status),
          });
        }
        accounts.touch(account);
        outcome = 'succeeded';
        const body = response.body;
        const data: JsonObject =
          typeof body === 'object' && body !== null && !Array.isArray(body)
            ? (body as JsonObject)
            : { data: body as JsonObject[keyof JsonObject] };
        return { data, executionId };
      } catch (cause) {
        if (cause instanceof ConnectError) throw cause;
        throw toolError({
          code: Code.Unavailable,
          message: 'the provider could not be reached',
          executionId,
          toolErrorCode: 'PROVIDER_UNAVAILABLE',
        });
      } finally {
        store.appendExecution({
          executionId,
          toolName: tool.name,
          identifier: account.identifier,
          connectedAccountId: account.id,
          startedAt,
          finishedAt: new Date().toISOString(),
          outcome,
        });
      }
    },
  };
}
