import catalog from '../../functions/core/asana-tools.json';
import { UpstreamError } from '../../functions/core/errors';
import type { ConnectedAccountInfo, ConnectionStatus, PinnedAccount, ToolDefinition, ToolExecution } from '../../functions/core/domain';
import type { ConnectedAccounts } from '../../functions/core/ports';
import { copy } from './copy';

/** A tool's behaviour in the fake: what Asana would answer for this caller and input. */
export type ToolHandler = (call: {
  identifier: string;
  input: Record<string, unknown>;
  /** The caller's deadline for this call: a slow handler may honour it (and throw) as the adapter does. */
  signal?: AbortSignal;
}) => ToolExecution | Promise<ToolExecution>;

/** One call to the fake, as Scalekit would have logged it. */
export interface AccountsCall {
  readonly method: keyof ConnectedAccounts;
  readonly identifier?: string;
  readonly connection?: string;
  readonly toolName?: string;
}

/** One tool execution that reached "Asana" (the account was ACTIVE). */
export interface ExecutionLog {
  readonly identifier: string;
  readonly connection: string;
  readonly toolName: string;
  readonly input: Record<string, unknown>;
}

interface FakeAccount {
  id: string;
  identifier: string;
  connection: string;
  status: Exclude<ConnectionStatus, 'NOT_CONNECTED'>;
}

/**
 * Scalekit connected accounts in memory: per-identifier accounts and statuses, a tool catalog
 * with scripted behaviour, authorization requests bound to the identifier that consented, and
 * a log of every call and every execution.
 */
export class FakeConnectedAccounts implements ConnectedAccounts {
  readonly calls: AccountsCall[] = [];
  /** Executions that ran at "Asana" (in the order they finished). */
  readonly executions: ExecutionLog[] = [];
  /** Executions handed to a scripted tool, in the order they started. */
  readonly started: ExecutionLog[] = [];
  readonly links: { identifier: string; connection: string; state: string; verifyUrl: string; url: string }[] = [];
  /** The Asana user each identifier's grant belongs to (what `asana_me_get` answers). */
  readonly profiles = new Map<string, PinnedAccount>();
  private readonly accounts = new Map<string, FakeAccount>();
  private readonly handlers = new Map<string, ToolHandler>();
  private readonly authRequests = new Map<string, { identifier: string; connection: string; used: boolean }>();
  /** Errors to throw from the next calls of a method (upstream outages). */
  private readonly failures = new Map<keyof ConnectedAccounts, unknown[]>();
  private sequence = 0;
  /** Accounts per page of `list`. */
  pageSize = 2;

  constructor(readonly catalog: Readonly<Record<string, readonly ToolDefinition[]>> = { asana: DEFAULT_TOOLS }) {
    this.onTool('asana_me_get', ({ identifier }) => {
      const profile = this.profiles.get(identifier);
      return profile
        ? { kind: 'succeeded', data: { data: { ...profile, resource_type: 'user' } }, executionId: this.nextId('exec') }
        : { kind: 'failed', message: 'Not Found' };
    });
  }

  private nextId(prefix: string): string {
    this.sequence += 1;
    return `${prefix}_${this.sequence}`;
  }

  private key(identifier: string, connection: string): string {
    return `${connection}\u0000${identifier}`;
  }

  /** Puts (or moves) an identifier's account in a status, as Scalekit would hold it. */
  setStatus(identifier: string, status: FakeAccount['status'], connection = 'asana'): FakeAccount {
    const existing = this.accounts.get(this.key(identifier, connection));
    if (existing) {
      existing.status = status;
      return existing;
    }
    const account = { id: this.nextId('ca'), identifier, connection, status };
    this.accounts.set(this.key(identifier, connection), account);
    return account;
  }

  statusOf(identifier: string, connection = 'asana'): ConnectionStatus {
    return this.accounts.get(this.key(identifier, connection))?.status ?? 'NOT_CONNECTED';
  }

  /** The user consents in Asana: Scalekit issues an auth request bound to *this* identifier. */
  consent(identifier: string, connection = 'asana'): string {
    const account = this.setStatus(identifier, 'PENDING_VERIFICATION', connection);
    const authRequestId = this.nextId('ar');
    this.authRequests.set(authRequestId, { identifier: account.identifier, connection, used: false });
    return authRequestId;
  }

  /** Scripts a tool's behaviour (for every caller). */
  onTool(name: string, handler: ToolHandler): void {
    this.handlers.set(name, handler);
  }

  /** The next `times` calls of `method` throw `error` (default: an upstream outage). */
  failNext(
    method: keyof ConnectedAccounts,
    error: unknown = new UpstreamError('unavailable', 'scalekit', 'Scalekit is unavailable'),
    times = 1,
  ): void {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.failures.set(method, queue);
  }

  private enter(call: AccountsCall): void {
    this.calls.push(call);
    const error = this.failures.get(call.method)?.shift();
    if (error !== undefined) throw error;
  }

  private info(account: FakeAccount): ConnectedAccountInfo {
    return { id: account.id, identifier: account.identifier, connection: account.connection, status: account.status };
  }

  callsOf(method: keyof ConnectedAccounts): AccountsCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  executionsOf(toolName: string): ExecutionLog[] {
    return this.executions.filter((execution) => execution.toolName === toolName);
  }

  async getOrCreate(identifier: string, connection: string): Promise<ConnectedAccountInfo> {
    this.enter({ method: 'getOrCreate', identifier, connection });
    const existing = this.accounts.get(this.key(identifier, connection));
    return this.info(existing ?? this.setStatus(identifier, 'PENDING_AUTH', connection));
  }

  async get(identifier: string, connection: string): Promise<ConnectedAccountInfo | undefined> {
    this.enter({ method: 'get', identifier, connection });
    const account = this.accounts.get(this.key(identifier, connection));
    return account ? this.info(account) : undefined;
  }

  /** When Scalekit says a link expires (epoch ms); undefined: it does not say. */
  linkExpiresAt: number | undefined = undefined;

  async authorizationLink(
    identifier: string,
    connection: string,
    options: { state: string; verifyUrl: string },
  ): Promise<{ url: string; expiresAt?: number }> {
    this.enter({ method: 'authorizationLink', identifier, connection });
    const url = `https://scalekit.test/magic/${connection}?identifier=${encodeURIComponent(identifier)}&state=${encodeURIComponent(options.state)}&n=${this.links.length}`;
    this.links.push({ identifier, connection, state: options.state, verifyUrl: options.verifyUrl, url });
    return { url, expiresAt: this.linkExpiresAt };
  }

  async verify(identifier: string, authRequestId: string): Promise<'verified' | 'refused'> {
    this.enter({ method: 'verify', identifier });
    const request = this.authRequests.get(authRequestId);
    if (!request || request.used || request.identifier !== identifier) return 'refused';
    request.used = true;
    this.setStatus(identifier, 'ACTIVE', request.connection);
    return 'verified';
  }

  async delete(identifier: string, connection: string): Promise<void> {
    this.enter({ method: 'delete', identifier, connection });
    this.accounts.delete(this.key(identifier, connection));
  }

  async list(connection: string, pageToken?: string): Promise<{ accounts: ConnectedAccountInfo[]; nextPageToken?: string }> {
    this.enter({ method: 'list', connection });
    const all = [...this.accounts.values()].filter((account) => account.connection === connection);
    const start = pageToken === undefined ? 0 : Number(pageToken);
    const end = start + this.pageSize;
    return {
      accounts: all.slice(start, end).map((account) => this.info(account)),
      ...(end < all.length ? { nextPageToken: String(end) } : {}),
    };
  }

  async listTools(identifier: string, connections: readonly string[]): Promise<ToolDefinition[]> {
    this.enter({ method: 'listTools', identifier });
    return connections.flatMap((connection) => {
      const account = this.accounts.get(this.key(identifier, connection));
      return account?.status === 'ACTIVE' ? copy([...(this.catalog[connection] ?? [])]) : [];
    });
  }

  async execute(
    identifier: string,
    connection: string,
    toolName: string,
    input: Record<string, unknown>,
    options: { signal?: AbortSignal } = {},
  ): Promise<ToolExecution> {
    this.enter({ method: 'execute', identifier, connection, toolName });
    const account = this.accounts.get(this.key(identifier, connection));
    if (account?.status !== 'ACTIVE') return { kind: 'not_authorized', message: 'The connected account is not active.' };
    if (!(this.catalog[connection] ?? []).some((tool) => tool.name === toolName)) {
      return { kind: 'failed', message: `Unknown tool ${toolName}` };
    }
    const handler = this.handlers.get(toolName);
    const log = { identifier, connection, toolName, input: copy(input) };
    if (!handler) {
      this.executions.push(log);
      return { kind: 'succeeded', data: { data: [] }, executionId: this.nextId('exec') };
    }
    this.started.push(log);
    const result = await handler({ identifier, input: copy(input), signal: options.signal });
    // Refused before it ran (Asana 401 after a failed refresh): nothing happened upstream.
    if (result.kind !== 'not_authorized') this.executions.push(log);
    return result;
  }
}

/** A tool that takes any object: the loop's tests are not about inputs (those use {@link catalogTool}). */
const tool = (name: string, description: string): ToolDefinition => ({
  name,
  description,
  input_schema: { type: 'object', additionalProperties: true },
});

/** A tool exactly as the catalog lists it, with its real input schema. */
export function catalogTool(name: string): ToolDefinition {
  const listed = catalog.find((candidate) => candidate.name === name);
  if (!listed) throw new Error(`${name} is not in the catalog`);
  return { name: listed.name, description: listed.description, input_schema: listed.input_schema };
}

/** A small Asana catalog: reads, writes, and one tool no deployment allowlists. */
export const DEFAULT_TOOLS: readonly ToolDefinition[] = [
  tool('asana_me_get', 'Get the Asana user this connection acts as.'),
  tool('asana_tasks_list', 'List tasks.'),
  tool('asana_task_get', 'Get a task.'),
  tool('asana_task_create', 'Create a task.'),
  tool('asana_story_create', 'Comment on a task.'),
  tool('asana_task_delete', 'Delete a task.'),
  tool('asana_workspace_purge', 'Not on any allowlist.'),
];
