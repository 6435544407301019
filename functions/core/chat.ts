import { createHash } from 'node:crypto';
import { type ConnectionsDeps, createAuthorizationLink, resolveVerifyUrl } from './connections';
import { DomainError, UpstreamError } from './errors';
import { estimateTokens, fitWindow, opensExchange, replyOf } from './history';
import {
  type ChatModel,
  type Clock,
  type ConnectedAccounts,
  type ConversationHeader,
  type ConversationStore,
  type Faults,
  type HeaderChanges,
  LeaseUnavailable,
  type Message,
  type PendingApproval,
  type RunStatus,
  type StoredMessage,
  type ToolDefinition,
  type ToolOutcome,
  type ToolRecord,
  type ToolResultBlock,
  type ToolUseBlock,
  type Usage,
} from './ports';
import { policyFor, type ToolPolicy } from './tool-policy';

/** Settings of the tool loop; every budget and lifetime is configurable. */
export interface ChatSettings {
  /** The connections whose tools Claude may use. */
  readonly connections: readonly string[];
  /** Tools the deployment allows at all (default: the catalog's read and write tools). */
  readonly toolAllowlist: readonly string[];
  readonly toolPolicy: Readonly<Record<string, ToolPolicy>>;
  /** Model calls per request (default 20). */
  readonly modelCallBudget: number;
  /** Wall time per request before the run pauses as `in_progress` (default 25 s). */
  readonly timeBudgetMs: number;
  /** How long a request's hold on a conversation lasts if it crashes (default 60 s). */
  readonly leaseMs: number;
  /** Token budget of the history sent to Claude. */
  readonly historyTokenBudget: number;
  /** Largest `tool_result` content kept, in bytes. */
  readonly toolResultMaxBytes: number;
  readonly systemPrompt: string;
}

/** What the chat use cases need. */
export interface ChatDeps {
  readonly store: ConversationStore;
  readonly accounts: ConnectedAccounts;
  readonly model: ChatModel;
  readonly clock: Clock;
  readonly newConversationId: () => string;
  readonly newLeaseId: () => string;
  /** For fresh authorization links when a connection needs the user. */
  readonly connections: ConnectionsDeps;
  readonly settings: ChatSettings;
  readonly faults?: Faults;
}

/** A tool call as the API reports it. */
export interface ToolCallView {
  readonly toolUseId: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly outcome: ToolOutcome;
  /** Time spent executing the tool; 0 for a call that never ran (denied, refused, interrupted). */
  readonly durationMs: number;
}

/** The outcome of a run (`API.md`, "Conversations"). */
export interface RunOutcome {
  readonly conversationId: string;
  readonly status: RunStatus;
  readonly reply: string | null;
  readonly toolCalls: readonly ToolCallView[];
  readonly pendingApprovals: readonly PendingApproval[];
  readonly authorizationUrl: string | null;
  readonly truncated?: true;
}

export const DEFAULT_SYSTEM_PROMPT =
  'You are an assistant that works in Asana on behalf of the signed-in user, using only the tools provided. ' +
  'Every tool runs as that user, so you can see and change only what they can. When a tool fails or is refused, ' +
  'say so plainly; never guess at data you could not read. Answer concisely.';

const STOP_COMPLETES = new Set(['end_turn', 'stop_sequence', 'refusal']);
const STOP_TRUNCATES = new Set(['max_tokens', 'model_context_window_exceeded']);
/** DynamoDB items stay well under 400 KB: all results of one message share this many bytes. */
const MESSAGE_RESULTS_MAX_BYTES = 300_000;
const ZERO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };

const CONVERSATION_ID = /^c_[0-9a-z]{10}[0-9a-f]{12}$/;

/** Whether an id has the shape of a conversation id (malformed ids are simply not found). */
export function isConversationId(id: string): boolean {
  return CONVERSATION_ID.test(id);
}

const notFound = () => new DomainError('not_found', 'No such conversation.');

/** A stable hash of a tool input: what an approval is bound to. */
export function inputHash(input: Record<string, unknown>): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.keys(value as Record<string, unknown>)
          .sort()
          .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
      );
    }
    return value;
  };
  return createHash('sha256')
    .update(JSON.stringify(canonical(input)))
    .digest('hex');
}

const iso = (ms: number) => new Date(ms).toISOString();

const addUsage = (a: Usage, b: Usage): Usage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cacheCreationInputTokens: a.cacheCreationInputTokens + b.cacheCreationInputTokens,
  cacheReadInputTokens: a.cacheReadInputTokens + b.cacheReadInputTokens,
});

const toolUsesOf = (message: Message | undefined): ToolUseBlock[] =>
  (message?.content ?? []).filter((block): block is ToolUseBlock => block.type === 'tool_use');

/** Cuts text to `maxBytes` of UTF-8 with a visible marker, so Claude knows it saw only part. */
export function truncateResult(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const marker = `\n…[truncated: the result was ${Buffer.byteLength(text, 'utf8')} bytes; only the first ${maxBytes} are shown]`;
  let cut = Buffer.from(text, 'utf8')
    .subarray(0, Math.max(0, maxBytes - Buffer.byteLength(marker)))
    .toString('utf8');
  // A cut inside a multi-byte character leaves a replacement character: drop it.
  cut = cut.replace(/\uFFFD$/, '');
  return cut + marker;
}

/**
 * The history as Claude accepts it back: empty text blocks dropped, and an assistant message left
 * with nothing dropped (consecutive turns of one role are merged by the API).
 */
function sendable(history: readonly StoredMessage[]): Message[] {
  const messages: Message[] = [];
  for (const { role, content } of history) {
    const kept = content.filter((block) => !(block.type === 'text' && typeof block.text === 'string' && block.text.trim() === ''));
    if (kept.length === 0 && role === 'assistant') continue;
    messages.push({ role, content: kept.length === content.length ? content : kept });
  }
  // Continuing a paused turn ends on Claude's own message, which may not end in white space.
  const last = messages.at(-1);
  const lastBlock = last?.content.at(-1);
  if (last?.role === 'assistant' && lastBlock?.type === 'text' && typeof lastBlock.text === 'string') {
    const trimmed = lastBlock.text.trimEnd();
    const content = trimmed === '' ? last.content.slice(0, -1) : [...last.content.slice(0, -1), { ...lastBlock, text: trimmed }];
    if (content.length === 0) messages.pop();
    else messages[messages.length - 1] = { role: 'assistant', content };
  }
  return messages;
}

function storedMessage(seq: number, message: Message, stopReason?: string): StoredMessage {
  return {
    seq,
    role: message.role,
    content: message.content,
    stopReason,
    startsExchange: opensExchange(message),
    tokens: estimateTokens(message.content),
  };
}

/** The state of one request's run over one conversation, while it holds the lease. */
class Run {
  private header: ConversationHeader;
  private window: StoredMessage[] | undefined;
  private tools: ToolDefinition[] | undefined;
  private toolConnection = new Map<string, string>();
  private modelCalls = 0;
  private readonly startedAt: number;
  readonly toolCalls: ToolCallView[] = [];
  private readonly toolOrder = new Map<string, number>();
  /** The newest assistant message this request stored (the reply when a run ends on tool results). */
  private lastAssistant: StoredMessage | undefined;
  private authorizationUrl: string | null = null;

  constructor(
    private readonly deps: ChatDeps,
    private readonly sub: string,
    header: ConversationHeader,
    readonly leaseId: string,
    private readonly verifyUrl: string,
    private last: StoredMessage | undefined,
  ) {
    this.header = header;
    this.startedAt = deps.clock.now();
  }

  private get id() {
    return this.header.id;
  }

  /** Applies header changes locally after the store accepted them. */
  private async update(changes: Omit<HeaderChanges, 'updatedAt'>): Promise<void> {
    const full: HeaderChanges = { ...changes, updatedAt: iso(this.deps.clock.now()) };
    await this.deps.store.update(this.sub, this.id, this.leaseId, full);
    this.header = { ...this.header, ...full };
  }

  private async append(message: Message, stopReason: string | undefined, changes: Omit<HeaderChanges, 'updatedAt'> = {}) {
    const stored = storedMessage(this.header.messageCount, message, stopReason);
    const full: HeaderChanges = { ...changes, messageCount: stored.seq + 1, updatedAt: iso(this.deps.clock.now()) };
    await this.deps.store.append(this.sub, this.id, this.leaseId, stored, full);
    this.header = { ...this.header, ...full };
    this.window?.push(stored);
    this.last = stored;
    if (stored.role === 'assistant') this.lastAssistant = stored;
    return stored;
  }

  /** Appends the user's new message (the run has not started). */
  async addUserMessage(text: string): Promise<void> {
    await this.append({ role: 'user', content: [{ type: 'text', text }] }, undefined, { status: 'in_progress', truncated: false });
  }

  private async lastMessage(): Promise<StoredMessage | undefined> {
    if (this.last === undefined && this.header.messageCount > 0) {
      const window = await this.history();
      this.last = window.at(-1);
    }
    return this.last;
  }

  private async history(): Promise<StoredMessage[]> {
    this.window ??= await this.deps.store.window(this.sub, this.id, this.deps.settings.historyTokenBudget);
    return this.window;
  }

  /**
   * Checks the caller's connections and lists their scoped tools, once per request. Returns
   * false (and prepares a link) when a connection is not ACTIVE.
   */
  private async prepareTools(): Promise<boolean> {
    if (this.tools) return true;
    const allowed = new Set(this.deps.settings.toolAllowlist);
    const tools: ToolDefinition[] = [];
    for (const connection of this.deps.settings.connections) {
      const account = await this.deps.accounts.get(this.sub, connection);
      if (account?.status !== 'ACTIVE') {
        await this.needAuthorization(connection);
        return false;
      }
      for (const tool of await this.deps.accounts.listTools(this.sub, [connection])) {
        if (!allowed.has(tool.name) || this.toolConnection.has(tool.name)) continue;
        if (policyFor(this.deps.settings.toolPolicy, tool.name) === 'deny') continue;
        this.toolConnection.set(tool.name, connection);
        tools.push(tool);
      }
    }
    this.tools = tools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return true;
  }

  private async needAuthorization(connection: string): Promise<void> {
    // A user who never connected has no account yet, and a link needs one.
    await this.deps.accounts.getOrCreate(this.sub, connection);
    const link = await createAuthorizationLink(this.deps.connections, this.sub, connection, this.verifyUrl);
    this.authorizationUrl = link.authorizationUrl;
    await this.update({ status: 'needs_authorization' });
  }

  /** Runs the tool loop until Claude is done, a budget runs out, or the user is needed. */
  async loop(): Promise<void> {
    for (;;) {
      const last = await this.lastMessage();
      if (!last) throw new Error('conversation without messages');
      const uses = last.role === 'assistant' ? toolUsesOf(last) : [];
      if (last.role === 'assistant' && uses.length > 0 && STOP_TRUNCATES.has(last.stopReason ?? '')) {
        // Claude was cut off: its tool calls may be incomplete, so none of them runs.
        await this.refuseTruncatedTools(uses);
        return;
      }
      if (last.role === 'assistant' && uses.length > 0) {
        if (!(await this.runTools(uses))) return;
        continue;
      }
      if (last.role === 'assistant' && last.stopReason !== 'pause_turn') {
        const truncated = STOP_TRUNCATES.has(last.stopReason ?? '');
        // The answer's own append usually recorded this already; write only what is missing.
        if (this.header.status !== 'completed' || (this.header.truncated ?? false) !== truncated) {
          await this.update({ status: 'completed', truncated });
        }
        return;
      }
      if (!(await this.prepareTools())) return;
      const elapsed = this.deps.clock.now() - this.startedAt;
      if (this.modelCalls >= this.deps.settings.modelCallBudget || elapsed >= this.deps.settings.timeBudgetMs) {
        await this.update({ status: 'in_progress' });
        return;
      }
      await this.callModel();
    }
  }

  private async callModel(): Promise<void> {
    // The window grows by this run's messages: fit it again before every call.
    const history = fitWindow(await this.history(), this.deps.settings.historyTokenBudget);
    const response = await this.deps.model.complete({
      system: this.deps.settings.systemPrompt,
      tools: this.tools ?? [],
      messages: sendable(history),
    });
    this.modelCalls++;
    // Stored exactly as received, even empty: only what is sent back is cleaned (see `sendable`).
    const content = response.content;
    const usage = addUsage(this.header.usage, response.usage);
    const stop = response.stopReason;
    const hasTools = toolUsesOf({ role: 'assistant', content }).length > 0;
    const status: RunStatus = !hasTools && (STOP_COMPLETES.has(stop) || STOP_TRUNCATES.has(stop)) ? 'completed' : 'in_progress';
    await this.append({ role: 'assistant', content }, stop, {
      usage,
      status,
      truncated: status === 'completed' && STOP_TRUNCATES.has(stop),
    });
    this.deps.faults?.checkpoint('after_assistant_saved');
  }

  /** Answers every `tool_use` of a cut-off response as not run, and ends the run as truncated. */
  private async refuseTruncatedTools(uses: ToolUseBlock[]): Promise<void> {
    const records = new Map(
      (
        await this.deps.store.toolRecords(
          this.sub,
          this.id,
          uses.map((use) => use.id),
        )
      ).map((record) => [record.toolUseId, record]),
    );
    for (const use of uses) this.toolOrder.set(use.id, this.toolOrder.size);
    const results: ToolResultBlock[] = [];
    for (const use of uses) {
      const record = records.get(use.id);
      if (record?.outcome !== undefined) {
        results.push({
          type: 'tool_result',
          tool_use_id: use.id,
          content: record.result ?? '',
          ...(record.isError ? { is_error: true } : {}),
        });
        continue;
      }
      const base = {
        name: use.name,
        input: use.input,
        inputHash: inputHash(use.input),
        actor: this.sub,
        connection: this.toolConnection.get(use.name) ?? this.deps.settings.connections[0] ?? '',
      };
      results.push(await this.finish(use, base, 'failed', 'Not run: the response was cut off before this tool call was complete.', true));
    }
    await this.append({ role: 'user', content: results }, undefined, { status: 'completed', truncated: true, pendingApprovals: [] });
  }

  /**
   * Executes the `tool_use` blocks of the last assistant message, in parallel, each exactly
   * once (a conditional start record), then stores every result in one user message.
   * Returns false when the run must pause (approvals, or the connection needs the user).
   */
  private async runTools(uses: ToolUseBlock[]): Promise<boolean> {
    const records = new Map(
      (
        await this.deps.store.toolRecords(
          this.sub,
          this.id,
          uses.map((use) => use.id),
        )
      ).map((record) => [record.toolUseId, record]),
    );
    for (const use of uses) this.toolOrder.set(use.id, this.toolOrder.size);
    const maxBytes = Math.min(this.deps.settings.toolResultMaxBytes, Math.floor(MESSAGE_RESULTS_MAX_BYTES / uses.length));
    const pending: (PendingApproval | undefined)[] = [];
    let unauthorized: string | undefined;
    // Tools only need listing when one has to run: a resumed batch of finished results does not.
    const needsExecution = uses.some((use) => records.get(use.id)?.outcome === undefined);
    if (needsExecution && !(await this.prepareTools())) return false;

    const results = await Promise.all(
      uses.map(async (use, index): Promise<ToolResultBlock | undefined> => {
        const record = records.get(use.id);
        if (record?.outcome !== undefined) {
          return { type: 'tool_result', tool_use_id: use.id, content: record.result ?? '', ...(record.isError ? { is_error: true } : {}) };
        }
        const connection = this.toolConnection.get(use.name);
        const base = {
          name: use.name,
          input: use.input,
          inputHash: inputHash(use.input),
          actor: this.sub,
          connection: connection ?? this.deps.settings.connections[0] ?? '',
        };
        if (record?.startedAt) {
          return this.finish(
            use,
            base,
            'unknown',
            'This tool was interrupted while it ran; whether it took effect is unknown, so it was not run again.',
            true,
          );
        }
        const policy = policyFor(this.deps.settings.toolPolicy, use.name);
        if (policy === 'deny') {
          return this.finish(use, base, 'denied', 'The user declined this tool call; it was not run.', true);
        }
        if (!connection) {
          return this.finish(use, base, 'failed', `The tool "${use.name}" is not available to this user; it was not run.`, true);
        }
        if (policy === 'confirm') {
          const decision = record?.decision;
          if (decision?.decision === 'deny') {
            return this.finish(use, base, 'denied', 'The user declined this tool call; it was not run.', true);
          }
          if (decision?.decision !== 'approve' || decision.inputHash !== base.inputHash) {
            if (!record) await this.deps.store.proposeTool(this.sub, this.id, { toolUseId: use.id, ...base });
            pending[index] = { toolUseId: use.id, name: use.name, input: use.input };
            return undefined;
          }
        }
        const outcome = await this.execute(use, base, connection, maxBytes);
        if (outcome === 'unauthorized') {
          unauthorized ??= connection;
          return undefined;
        }
        return outcome;
      }),
    );

    if (unauthorized !== undefined) {
      await this.needAuthorization(unauthorized);
      return false;
    }
    const awaiting = pending.filter((approval): approval is PendingApproval => approval !== undefined);
    if (awaiting.length > 0) {
      await this.update({ status: 'awaiting_approval', pendingApprovals: awaiting });
      return false;
    }
    this.deps.faults?.checkpoint('after_tools_finished');
    await this.append({ role: 'user', content: results.filter((block): block is ToolResultBlock => block !== undefined) }, undefined, {
      status: 'in_progress',
      pendingApprovals: [],
    });
    return true;
  }

  private async execute(
    use: ToolUseBlock,
    base: Omit<ToolRecord, 'toolUseId'>,
    connection: string,
    maxBytes: number,
  ): Promise<ToolResultBlock | 'unauthorized'> {
    const startedAt = this.deps.clock.now();
    const started = await this.deps.store.startTool(this.sub, this.id, { toolUseId: use.id, ...base, startedAt: iso(startedAt) });
    if (!started) {
      return this.finish(
        use,
        base,
        'unknown',
        'This tool was interrupted while it ran; whether it took effect is unknown, so it was not run again.',
        true,
      );
    }
    this.deps.faults?.checkpoint('after_tool_started');
    let result;
    try {
      result = await this.deps.accounts.execute(this.sub, connection, use.name, use.input);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      // The call may or may not have reached Asana: never run it again blindly.
      const durationMs = this.deps.clock.now() - startedAt;
      return this.finish(
        use,
        base,
        'unknown',
        `The tool service failed (${error.code}); whether the tool took effect is unknown.`,
        true,
        undefined,
        durationMs,
      );
    }
    const durationMs = this.deps.clock.now() - startedAt;
    if (result.kind === 'not_authorized') {
      // Refused before it ran: it may run once the user has reconnected.
      await this.deps.store.unstartTool(this.sub, this.id, use.id);
      return 'unauthorized';
    }
    if (result.kind === 'failed') {
      return this.finish(
        use,
        base,
        'failed',
        truncateResult(`The tool failed: ${result.message}`, maxBytes),
        true,
        result.executionId,
        durationMs,
      );
    }
    const text = typeof result.data === 'string' ? result.data : JSON.stringify(result.data ?? null);
    return this.finish(use, base, 'succeeded', truncateResult(text, maxBytes), false, result.executionId, durationMs);
  }

  private async finish(
    use: ToolUseBlock,
    base: Omit<ToolRecord, 'toolUseId'>,
    outcome: ToolOutcome,
    content: string,
    isError: boolean,
    executionId?: string,
    durationMs?: number,
  ): Promise<ToolResultBlock> {
    await this.deps.store.finishTool(this.sub, this.id, use.id, {
      name: base.name,
      input: base.input,
      inputHash: base.inputHash,
      actor: base.actor,
      connection: base.connection,
      outcome,
      result: content,
      isError,
      finishedAt: iso(this.deps.clock.now()),
      executionId,
      durationMs,
    });
    this.toolCalls.push({ toolUseId: use.id, name: use.name, input: use.input, outcome, durationMs: durationMs ?? 0 });
    // Report calls in the order Claude asked for them, not the order they finished.
    const order = (id: string) => this.toolOrder.get(id) ?? Number.MAX_SAFE_INTEGER;
    this.toolCalls.sort((a, b) => order(a.toolUseId) - order(b.toolUseId));
    return { type: 'tool_result', tool_use_id: use.id, content, ...(isError ? { is_error: true } : {}) };
  }

  async outcome(): Promise<RunOutcome> {
    const status = this.header.status;
    const last = await this.lastMessage();
    return {
      conversationId: this.id,
      status,
      reply:
        status === 'completed'
          ? replyOf(
              last?.role === 'assistant' ? last : (this.lastAssistant ?? (await this.history()).findLast((m) => m.role === 'assistant')),
            )
          : null,
      toolCalls: this.toolCalls,
      pendingApprovals: status === 'awaiting_approval' ? this.header.pendingApprovals : [],
      authorizationUrl: status === 'needs_authorization' ? this.authorizationUrl : null,
      ...(status === 'completed' && this.header.truncated ? { truncated: true as const } : {}),
    };
  }

  /** Records a user's decision on a pending tool call. */
  async decide(toolUseId: string, decision: 'approve' | 'deny'): Promise<void> {
    const pending = this.header.pendingApprovals.find((approval) => approval.toolUseId === toolUseId);
    if (this.header.status !== 'awaiting_approval' || !pending) {
      throw new DomainError('approval_mismatch', 'That tool call is not awaiting your decision.');
    }
    const recorded = await this.deps.store.decideTool(this.sub, this.id, toolUseId, {
      decision,
      by: this.sub,
      at: iso(this.deps.clock.now()),
      inputHash: inputHash(pending.input),
    });
    if (!recorded) {
      // Decided before, yet still listed as pending: a request crashed between recording the
      // decision and updating the header. A retry of the same decision finishes the bookkeeping;
      // the recorded decision can never be changed.
      const [record] = await this.deps.store.toolRecords(this.sub, this.id, [toolUseId]);
      if (record?.decision?.decision !== decision) {
        throw new DomainError('approval_mismatch', 'That tool call was already decided.');
      }
    }
    this.deps.faults?.checkpoint('after_approval_saved');
    const remaining = this.header.pendingApprovals.filter((approval) => approval.toolUseId !== toolUseId);
    await this.update(remaining.length > 0 ? { pendingApprovals: remaining } : { pendingApprovals: [], status: 'in_progress' });
  }

  /**
   * Drops from the pending list the calls whose decision is already recorded: a request that
   * crashed after saving a decision left it listed, and it can never be decided again. When
   * none remain, the run can continue.
   */
  async settleRecordedDecisions(): Promise<void> {
    if (this.header.status !== 'awaiting_approval') return;
    const pending = this.header.pendingApprovals;
    const records = await this.deps.store.toolRecords(
      this.sub,
      this.id,
      pending.map((approval) => approval.toolUseId),
    );
    const decided = new Set(records.filter((record) => record.decision !== undefined).map((record) => record.toolUseId));
    if (decided.size === 0) return;
    const remaining = pending.filter((approval) => !decided.has(approval.toolUseId));
    await this.update(remaining.length > 0 ? { pendingApprovals: remaining } : { pendingApprovals: [], status: 'in_progress' });
  }

  /** Whether Claude's newest message still awaits its tool results (a run paused between them). */
  async awaitsToolResults(): Promise<boolean> {
    const last = await this.lastMessage();
    return last?.role === 'assistant' && toolUsesOf(last).length > 0;
  }

  get status(): RunStatus {
    return this.header.status;
  }
}

/**
 * Maps failures during a run to the contract, naming the conversation so the client can resume.
 * An unexpected error becomes `internal_error` too (its cause kept for the log, never exposed).
 */
function withConversation(error: unknown, id: string): DomainError {
  if (error instanceof DomainError) return error.with({ conversationId: id });
  const wrapped = new DomainError('internal_error', 'The request failed because of an internal error.', [], { conversationId: id });
  (wrapped as Error).cause = error;
  return wrapped;
}

/**
 * Holds the conversation's lease for the duration of `work` and always gives it back. A crash
 * leaves the lease to expire (`leaseMs`), after which `resume` continues.
 */
async function withLease<T>(
  deps: ChatDeps,
  sub: string,
  id: string,
  work: (header: ConversationHeader, leaseId: string) => Promise<T>,
): Promise<T> {
  if (!isConversationId(id)) throw notFound();
  const now = deps.clock.now();
  const lease = { id: deps.newLeaseId(), now, expiresAt: now + deps.settings.leaseMs };
  let header: ConversationHeader | undefined;
  try {
    header = await deps.store.acquire(sub, id, lease);
  } catch (error) {
    if (error instanceof LeaseUnavailable) {
      throw new DomainError('conversation_busy', 'Another request is working on this conversation.', [], { conversationId: id });
    }
    throw error;
  }
  if (!header) throw notFound();
  try {
    return await work(header, lease.id);
  } finally {
    deps.faults?.checkpoint('before_lease_released');
    await deps.store.release(sub, id, lease.id);
  }
}

async function drive(run: Run, id: string): Promise<RunOutcome> {
  try {
    await run.loop();
  } catch (error) {
    throw withConversation(error, id);
  }
  return run.outcome();
}

/**
 * `POST /conversations`. Primary course: create the conversation holding its lease, store the
 * user's message, then run the tool loop under the caller's own connection.
 */
export async function startConversation(
  deps: ChatDeps,
  sub: string,
  request: { message: string; verifyUrl?: string },
): Promise<RunOutcome> {
  const verifyUrl = resolveVerifyUrl(deps.connections.settings, request.verifyUrl);
  const now = deps.clock.now();
  const id = deps.newConversationId();
  const lease = { id: deps.newLeaseId(), now, expiresAt: now + deps.settings.leaseMs };
  const first = storedMessage(0, { role: 'user', content: [{ type: 'text', text: request.message }] });
  const header: ConversationHeader = {
    id,
    status: 'in_progress',
    title: request.message.trim().replace(/\s+/g, ' ').slice(0, 80),
    createdAt: iso(now),
    updatedAt: iso(now),
    messageCount: 1,
    usage: ZERO_USAGE,
    pendingApprovals: [],
  };
  await deps.store.create(sub, header, first, lease);
  try {
    return await drive(new Run(deps, sub, header, lease.id, verifyUrl, first), id);
  } finally {
    deps.faults?.checkpoint('before_lease_released');
    await deps.store.release(sub, id, lease.id);
  }
}

/** `POST /conversations/{id}/messages`: the user's next message, then the tool loop. */
export async function postMessage(
  deps: ChatDeps,
  sub: string,
  id: string,
  request: { message: string; verifyUrl?: string },
): Promise<RunOutcome> {
  const verifyUrl = resolveVerifyUrl(deps.connections.settings, request.verifyUrl);
  return withLease(deps, sub, id, async (header, leaseId) => {
    if (header.status === 'awaiting_approval') throw approvalPending(id);
    const resumeRequired = () =>
      new DomainError('resume_required', 'The previous run is still in progress; resume it first.', [], { conversationId: id });
    if (header.status === 'in_progress') throw resumeRequired();
    const run = new Run(deps, sub, header, leaseId, verifyUrl, undefined);
    // Paused for authorization between a tool_use and its tool_result: a new message there would
    // leave the tool_use unanswered (Claude rejects such a history), so the run must finish first.
    if (header.status === 'needs_authorization' && (await run.awaitsToolResults())) throw resumeRequired();
    await run.addUserMessage(request.message).catch((error: unknown) => {
      throw withConversation(error, id);
    });
    return drive(run, id);
  });
}

const approvalPending = (id: string) =>
  new DomainError('approval_pending', 'Tool calls are awaiting your decision; decide them first.', [], { conversationId: id });

/** `POST /conversations/{id}/resume`: continues a paused or interrupted run; a completed one is returned as is. */
export async function resumeConversation(deps: ChatDeps, sub: string, id: string, request: { verifyUrl?: string }): Promise<RunOutcome> {
  const verifyUrl = resolveVerifyUrl(deps.connections.settings, request.verifyUrl);
  return withLease(deps, sub, id, async (header, leaseId) => {
    const run = new Run(deps, sub, header, leaseId, verifyUrl, undefined);
    await run.settleRecordedDecisions().catch((error: unknown) => {
      throw withConversation(error, id);
    });
    if (run.status === 'awaiting_approval') throw approvalPending(id);
    if (header.status === 'completed') return run.outcome();
    return drive(run, id);
  });
}

/**
 * `POST /conversations/{id}/approvals`. Primary course: record the decision with the tool's
 * record (bound to the stored input's hash, once); while others are pending answer
 * `awaiting_approval`; once all are decided, continue the run in this request.
 */
export async function decideApproval(
  deps: ChatDeps,
  sub: string,
  id: string,
  request: { toolUseId: string; decision: 'approve' | 'deny'; verifyUrl?: string },
): Promise<RunOutcome> {
  const verifyUrl = resolveVerifyUrl(deps.connections.settings, request.verifyUrl);
  return withLease(deps, sub, id, async (header, leaseId) => {
    const run = new Run(deps, sub, header, leaseId, verifyUrl, undefined);
    // Deciding first lets a client retry an approval whose request crashed after saving it.
    await run
      .decide(request.toolUseId, request.decision)
      .then(() => run.settleRecordedDecisions())
      .catch((error: unknown) => {
        throw withConversation(error, id);
      });
    if (run.status === 'awaiting_approval') return run.outcome();
    return drive(run, id);
  });
}

/** A conversation as `GET /conversations/{id}` shows it. */
export interface ConversationView {
  readonly conversationId: string;
  readonly status: RunStatus;
  readonly title: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly messages: readonly Message[];
  readonly toolCalls: readonly ToolCallView[];
  readonly pendingApprovals: readonly PendingApproval[];
  readonly usage: Usage;
}

/** `GET /conversations/{id}`: every message and tool call, oldest first. */
export async function getConversation(deps: Pick<ChatDeps, 'store'>, sub: string, id: string): Promise<ConversationView> {
  if (!isConversationId(id)) throw notFound();
  const header = await deps.store.get(sub, id);
  if (!header) throw notFound();
  const [messages, records] = await Promise.all([deps.store.messages(sub, id), deps.store.toolRecords(sub, id)]);
  const order = new Map<string, number>();
  messages.forEach((message, index) => {
    toolUsesOf(message).forEach((use, j) => {
      order.set(use.id, index * 1000 + j);
    });
  });
  const toolCalls = records
    .filter((record) => record.outcome !== undefined)
    .sort((a, b) => (order.get(a.toolUseId) ?? 0) - (order.get(b.toolUseId) ?? 0))
    .map((record) => ({
      toolUseId: record.toolUseId,
      name: record.name,
      input: record.input,
      outcome: record.outcome!,
      durationMs: record.durationMs ?? 0,
    }));
  return {
    conversationId: id,
    status: header.status,
    title: header.title,
    createdAt: header.createdAt,
    updatedAt: header.updatedAt,
    messages: messages.map(({ role, content }) => ({ role, content })),
    toolCalls,
    pendingApprovals: header.status === 'awaiting_approval' ? header.pendingApprovals : [],
    usage: header.usage,
  };
}

/** `GET /conversations`: the caller's conversations, newest first. */
export async function listConversations(deps: Pick<ChatDeps, 'store'>, sub: string, request: { limit: number; nextToken?: string }) {
  const page = await deps.store.list(sub, request.limit, request.nextToken);
  return {
    conversations: page.items.map((header) => ({
      conversationId: header.id,
      status: header.status,
      title: header.title,
      createdAt: header.createdAt,
      updatedAt: header.updatedAt,
    })),
    nextToken: page.nextToken,
  };
}

/** `DELETE /conversations/{id}`: the conversation, its messages and its records. */
export async function deleteConversation(deps: ChatDeps, sub: string, id: string): Promise<void> {
  await withLease(deps, sub, id, async (_header, leaseId) => {
    await deps.store.delete(sub, id, leaseId);
  });
}
