import type { PendingApproval, ToolOutcome, ToolRecord, ToolResultBlock, ToolUseBlock } from '../domain';
import type { ToolCallBase, ToolFinish } from '../ports';
import { UpstreamError } from '../errors';
import { policyFor } from '../tool-policy';
import { inputHash } from './approvals';
import type { HeldConversation } from './conversation';
import { toolInputProblems } from '../tool-input';
import { markUntrusted, storedBytes, truncateStored } from '../tool-output';
import type { Deadline } from './deadline';
import type { RunEvents } from './events';
import { iso, MESSAGE_RESULTS_MAX_BYTES } from './messages';
import type { ToolCallView } from './outcome';
import type { ChatDeps } from './settings';
import type { TextRelay } from './text-relay';
import { decideToolCall, NOT_RUN } from './tool-decision';
import type { Toolbox } from './toolbox';

/** The tool calls this request finished, in the order Claude asked for them (not the order they finished). */
export class ToolCallLog {
  private readonly views: ToolCallView[] = [];
  private readonly order = new Map<string, number>();

  /** Notes the order of a batch of calls before any of them finishes. */
  expect(uses: readonly ToolUseBlock[]): void {
    for (const use of uses) this.order.set(use.id, this.order.size);
  }

  add(view: ToolCallView): void {
    this.views.push(view);
    const position = (id: string) => this.order.get(id) ?? Number.MAX_SAFE_INTEGER;
    this.views.sort((a, b) => position(a.toolUseId) - position(b.toolUseId));
  }

  get calls(): readonly ToolCallView[] {
    return this.views;
  }
}

/** What one request needs to run tool calls in a held conversation. */
export interface ToolContext {
  readonly deps: Pick<ChatDeps, 'store' | 'accounts' | 'clock' | 'settings' | 'faults' | 'observer'>;
  readonly conversation: HeldConversation;
  readonly log: ToolCallLog;
  /** No tool starts without a second left before it; a running one is abandoned then. */
  readonly deadline: Deadline;
  readonly events?: RunEvents;
  readonly text: TextRelay;
}

/**
 * How a batch of tool calls ended, with the records the run's next write carries: the calls that
 * ended (`finished`) and, for approvals, the calls proposed to the user.
 */
export type BatchOutcome =
  /**
   * Every call has its result, in Claude's order: they go back to Claude in one message, which
   * holds the results, so `finished` carries none and the records in `settled` drop theirs.
   */
  | {
      readonly kind: 'finished';
      readonly results: readonly ToolResultBlock[];
      readonly finished: readonly ToolFinish[];
      readonly settled: readonly string[];
    }
  /** Some calls wait for the user's decision; none of the others' results is sent yet. */
  | {
      readonly kind: 'awaiting_approval';
      readonly approvals: readonly PendingApproval[];
      readonly proposed: readonly ToolCallBase[];
      readonly finished: readonly ToolFinish[];
    }
  /** The connection refused to run a tool (or its tools cannot be listed): the user must reconnect. */
  | { readonly kind: 'unauthorized'; readonly connection: string; readonly finished: readonly ToolFinish[] }
  /** The deadline came before the calls could start: they run on `resume`, the finished ones are kept. */
  | { readonly kind: 'out_of_time'; readonly finished: readonly ToolFinish[] };

/** A result waits this long for the rest of its batch before it is written on its own (see `BatchRecords`). */
export const RESULT_WAIT_MS = 1_000;
/** One write carries at most this many records (a transaction holds 100 items, with the message and header). */
const RECORDS_PER_WRITE = 90;

/** How a call ended, as recorded and given to Claude. */
interface Finish {
  readonly outcome: ToolOutcome;
  readonly content: string;
  readonly isError: boolean;
  readonly executionId?: string;
  /** Time the tool ran; absent for a call that never ran. */
  readonly durationMs?: number;
}

/**
 * The records of a batch's ended calls, until a write carries them. They normally ride with the
 * batch's `tool_result` message (the result then written once, in the message). A result that
 * would wait longer than `RESULT_WAIT_MS` for a slow call of its batch is written on its own,
 * result included, so a crash while the slow one runs cannot lose it.
 */
class BatchRecords {
  private unwritten: ToolFinish[] = [];
  /** Ended calls already written with their result. */
  readonly written: string[] = [];
  private waiting = false;
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown;
  private closed = false;

  /**
   * `executions`: how many calls of the batch are sent to the provider (the slow ones). `fresh`:
   * none of the batch's calls has a record yet, so each is written whole.
   */
  constructor(
    private readonly ctx: ToolContext,
    private executions: number,
    private readonly fresh: boolean,
  ) {}

  /** A call ended; `executed` when it was one of the batch's executions. */
  async add(finish: ToolFinish, executed: boolean): Promise<void> {
    this.unwritten.push(this.fresh ? { ...finish, whole: true } : finish);
    if (executed) this.executions--;
    if (this.unwritten.length >= RECORDS_PER_WRITE) await this.write();
    else if (this.executions > 0 && !this.waiting) this.writeLater();
  }

  /** An execution ended without a record to write (it was not sent, or needs the user to reconnect). */
  skip(): void {
    this.executions--;
  }

  private writeLater(): void {
    this.waiting = true;
    // A signal rather than a sleep: its timer never keeps a finished process alive.
    this.ctx.deps.clock.signalAfter(RESULT_WAIT_MS).addEventListener(
      'abort',
      () => {
        this.waiting = false;
        if (!this.closed) this.write().catch((error: unknown) => void (this.failure ??= error));
      },
      { once: true },
    );
  }

  /** Writes what has not been written yet, results included (no message holds them). */
  write(): Promise<void> {
    const records = this.unwritten;
    this.unwritten = [];
    this.writing = this.writing.then(async () => {
      if (records.length === 0) return;
      await this.ctx.conversation.update({}, { finished: records });
      this.written.push(...records.map((record) => record.toolUseId));
    });
    return this.writing;
  }

  /** No write starts any more (the batch is over, or failed). */
  stop(): void {
    this.closed = true;
  }

  /** The batch is over: no write starts any more; the ones under way are awaited. */
  async close(): Promise<readonly ToolFinish[]> {
    this.stop();
    await this.writing;
    if (this.failure) throw this.failure;
    return this.unwritten;
  }
}

/** Records how a call ended (for the run's next write), adds it to the request's log, and returns its `tool_result`. */
async function finishCall(
  ctx: ToolContext,
  records: BatchRecords,
  use: ToolUseBlock,
  base: ToolCallBase,
  finish: Finish,
  how: { readonly startedAt?: string; readonly executed?: boolean } = {},
): Promise<ToolResultBlock> {
  const { deps } = ctx;
  await records.add(
    {
      ...base,
      outcome: finish.outcome,
      result: finish.content,
      isError: finish.isError,
      finishedAt: iso(deps.clock.now()),
      executionId: finish.executionId,
      durationMs: finish.durationMs,
      startedAt: how.startedAt,
    },
    how.executed === true,
  );
  const durationMs = finish.durationMs ?? 0;
  ctx.log.add({ toolUseId: use.id, name: use.name, input: use.input, outcome: finish.outcome, durationMs });
  ctx.events?.emit({ event: 'tool_result', data: { toolUseId: use.id, name: use.name, outcome: finish.outcome, durationMs } });
  deps.observer?.toolFinished({ name: use.name, outcome: finish.outcome, durationMs: finish.durationMs });
  return { type: 'tool_result', tool_use_id: use.id, content: finish.content, ...(finish.isError ? { is_error: true } : {}) };
}

/** The records of calls whose results the batch's message holds: without their copy of the result. */
const withoutResults = (finished: readonly ToolFinish[]): ToolFinish[] => finished.map(({ result: _, ...record }) => record);

/** What the batch's message write carries: the ended calls' records, and the stored results it now holds. */
function messageRecords(finished: readonly ToolFinish[], settled: readonly string[]) {
  return { finished: withoutResults(finished), settled: settled.slice(0, Math.max(0, RECORDS_PER_WRITE - finished.length)) };
}

/** Tells a streaming client that Claude asked for this call (before it runs, is refused or waits for approval). */
function announce(ctx: ToolContext, use: ToolUseBlock): void {
  ctx.text.mark();
  ctx.events?.emit({ event: 'tool_call', data: { toolUseId: use.id, name: use.name, input: use.input } });
}

const notRun = (kind: keyof typeof NOT_RUN): Finish => ({ outcome: NOT_RUN[kind].outcome, content: NOT_RUN[kind].result, isError: true });

/** The record every call of this request is written with. */
function baseOf(ctx: ToolContext, use: ToolUseBlock, connection: string | undefined): ToolCallBase {
  return {
    toolUseId: use.id,
    name: use.name,
    inputHash: inputHash(use.input),
    actor: ctx.conversation.sub,
    connection: connection ?? ctx.deps.settings.connections[0] ?? '',
  };
}

/** The records of these calls from earlier requests; none when this request stored Claude's message itself. */
async function earlierRecords(ctx: ToolContext, uses: readonly ToolUseBlock[], fresh: boolean): Promise<Map<string, ToolRecord>> {
  if (fresh) return new Map();
  const { conversation } = ctx;
  const ids = uses.map((use) => use.id);
  return new Map((await ctx.deps.store.toolRecords(conversation.sub, conversation.id, ids)).map((record) => [record.toolUseId, record]));
}

/**
 * Answers every `tool_use` of a cut-off response as not run (Claude's calls may be incomplete).
 * `fresh`: this request stored that response, so no call of it has a record yet.
 */
export async function refuseTruncated(
  ctx: ToolContext,
  uses: readonly ToolUseBlock[],
  toolbox: Toolbox | undefined,
  fresh: boolean,
): Promise<Extract<BatchOutcome, { kind: 'finished' }>> {
  const records = await earlierRecords(ctx, uses, fresh);
  const batch = new BatchRecords(ctx, 0, fresh);
  ctx.log.expect(uses);
  const results: ToolResultBlock[] = [];
  const settled: string[] = [];
  for (const use of uses) {
    const record = records.get(use.id);
    if (record?.outcome !== undefined) {
      settled.push(use.id);
      results.push({
        type: 'tool_result',
        tool_use_id: use.id,
        content: record.result ?? '',
        ...(record.isError ? { is_error: true } : {}),
      });
      continue;
    }
    const connection = toolbox?.kind === 'ready' ? toolbox.connectionOf.get(use.name) : undefined;
    announce(ctx, use);
    results.push(await finishCall(ctx, batch, use, baseOf(ctx, use, connection), notRun('truncated')));
  }
  const finished = await batch.close();
  return { kind: 'finished', results, ...messageRecords(finished, [...settled, ...batch.written]) };
}

/**
 * Runs the `tool_use` blocks of Claude's last message in parallel, each exactly once: one write
 * records every start before any is sent. `toolbox` is opened only when a call has to run: a
 * resumed batch of finished results does not need the user's tools. `fresh`: this request
 * stored Claude's message, so no call of it has a record yet (nothing to read).
 */
export async function runToolBatch(
  ctx: ToolContext,
  uses: readonly ToolUseBlock[],
  toolbox: () => Promise<Toolbox>,
  fresh: boolean,
): Promise<BatchOutcome> {
  const { deps, conversation } = ctx;
  const records = await earlierRecords(ctx, uses, fresh);
  ctx.log.expect(uses);
  const maxBytes = Math.min(deps.settings.toolResultMaxBytes, Math.floor(MESSAGE_RESULTS_MAX_BYTES / uses.length));
  const needsExecution = uses.some((use) => records.get(use.id)?.outcome === undefined);
  let connectionOf: ReadonlyMap<string, string> = new Map();
  let schemaOf: ReadonlyMap<string, Record<string, unknown>> = new Map();
  if (needsExecution) {
    const box = await toolbox();
    if (box.kind === 'unauthorized') return { ...box, finished: [] };
    connectionOf = box.connectionOf;
    schemaOf = box.schemaOf;
  }

  const calls = uses.map((use) => {
    const record = records.get(use.id);
    const connection = connectionOf.get(use.name);
    const base = baseOf(ctx, use, connection);
    const schema = schemaOf.get(use.name);
    const decision = decideToolCall({
      record,
      policy: policyFor(deps.settings.toolPolicy, use.name),
      available: connection !== undefined,
      inputHash: base.inputHash,
      inputProblems: schema ? toolInputProblems(schema, use.input) : [],
    });
    return { use, base, decision, record };
  });
  // Every call Claude asked for that this request handles is announced before any of them runs.
  for (const { use, decision } of calls) if (decision.kind !== 'replay') announce(ctx, use);

  // One write starts every call that runs now; none starts without a second left before the deadline.
  const toRun = calls.filter(({ decision }) => decision.kind === 'execute');
  const outOfTime = toRun.length > 0 && ctx.deadline.callTimeout() <= 0;
  let started: ReadonlySet<string> = new Set();
  const startedAt = deps.clock.now();
  if (toRun.length > 0 && !outOfTime) {
    started = await conversation.startTools(toRun.map(({ base }) => ({ ...base, startedAt: iso(startedAt) })));
    deps.faults?.checkpoint('after_tool_started');
  }

  const batch = new BatchRecords(ctx, outOfTime ? 0 : started.size, fresh);
  const pending: (PendingApproval | undefined)[] = [];
  const proposed: ToolCallBase[] = [];
  const settled: string[] = [];
  let unauthorized: string | undefined;
  let notSent: UpstreamError | undefined;
  const results = await Promise.all(
    calls.map(async ({ use, base, decision, record }, index): Promise<ToolResultBlock | undefined> => {
      switch (decision.kind) {
        case 'replay':
          settled.push(use.id);
          return { type: 'tool_result', tool_use_id: use.id, content: decision.result, ...(decision.isError ? { is_error: true } : {}) };
        case 'interrupted':
          return finishCall(ctx, batch, use, base, notRun('interrupted'), { startedAt: record?.startedAt });
        case 'denied':
          return finishCall(ctx, batch, use, base, notRun('denied'));
        case 'refused':
          return finishCall(ctx, batch, use, base, {
            outcome: 'failed',
            content: `The tool "${use.name}" is not available to this user; it was not run.`,
            isError: true,
          });
        case 'invalid':
          return finishCall(ctx, batch, use, base, {
            outcome: 'failed',
            content: `Not run: the input does not match the tool's schema (${decision.problems.join('; ')}).`,
            isError: true,
          });
        case 'await_approval':
          if (decision.propose) proposed.push(base);
          pending[index] = { toolUseId: use.id, name: use.name, input: use.input };
          return undefined;
        case 'execute': {
          // Out of time: it runs on `resume`. Started before (by a request that lost the lease): never again.
          if (outOfTime) return undefined;
          if (!started.has(use.id)) return finishCall(ctx, batch, use, base, notRun('interrupted'));
          const result = await executeCall(ctx, batch, use, base, maxBytes, startedAt);
          if (!(result instanceof UpstreamError) && result !== 'unauthorized') return result;
          batch.skip();
          if (result instanceof UpstreamError) notSent ??= result;
          else unauthorized ??= base.connection;
          return undefined;
        }
      }
    }),
  ).finally(() => batch.stop());

  // Only once every call of the batch has settled (and its outcome is written): the request fails
  // with a 5xx, and `resume` sends the calls that were not sent.
  if (notSent) {
    await batch.close();
    await batch.write();
    throw notSent;
  }
  const finished = await batch.close();
  if (unauthorized !== undefined) return { kind: 'unauthorized', connection: unauthorized, finished };
  const approvals = pending.filter((approval): approval is PendingApproval => approval !== undefined);
  if (approvals.length > 0) return { kind: 'awaiting_approval', approvals, proposed, finished };
  if (outOfTime) return { kind: 'out_of_time', finished };
  return {
    kind: 'finished',
    results: results.filter((block): block is ToolResultBlock => block !== undefined),
    ...messageRecords(finished, [...settled, ...batch.written]),
  };
}

/**
 * Runs one started tool under the caller's identifier, once, bounded by the deadline. A call that
 * may have reached Asana and did not answer is `unknown`.
 */
async function executeCall(
  ctx: ToolContext,
  batch: BatchRecords,
  use: ToolUseBlock,
  base: ToolCallBase,
  maxBytes: number,
  startedAt: number,
): Promise<ToolResultBlock | 'unauthorized' | UpstreamError> {
  const { deps, conversation } = ctx;
  const signal = deps.clock.signalAfter(ctx.deadline.callTimeout());
  const finish = (how: Finish) => finishCall(ctx, batch, use, base, how, { executed: true, startedAt: iso(startedAt) });
  let result;
  try {
    result = await deps.accounts.execute(conversation.sub, base.connection, use.name, use.input, { signal });
  } catch (error) {
    if (signal.aborted) {
      // Abandoned at the deadline: it may have reached Asana, so it is never run again.
      return finish({
        outcome: 'unknown',
        content: "The tool did not answer before the request's deadline; whether it took effect is unknown.",
        isError: true,
        durationMs: deps.clock.now() - startedAt,
      });
    }
    if (!(error instanceof UpstreamError)) throw error;
    // Not sent (Scalekit unreachable, our token refused): nothing ran, so a retry may run it.
    await deps.store.unstartTool(conversation.sub, conversation.id, use.id);
    return error;
  }
  const durationMs = deps.clock.now() - startedAt;
  if (result.kind === 'unknown') {
    // Sent, then failed: it may have reached Asana, so it is never run again.
    return finish({ outcome: 'unknown', content: result.message, isError: true, durationMs });
  }
  if (result.kind === 'not_authorized') {
    // Refused before it ran, in a way that *may* mean the grant is gone. Only Scalekit's status
    // decides: not ACTIVE → the user must reconnect (and the call may run afterwards); ACTIVE →
    // an ordinary failure Claude is told about (an Asana 403 must never ask for a reconnect).
    let live;
    try {
      live = await deps.accounts.get(conversation.sub, base.connection);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      await deps.store.unstartTool(conversation.sub, conversation.id, use.id);
      return error;
    }
    if (live?.status !== 'ACTIVE') {
      await deps.store.unstartTool(conversation.sub, conversation.id, use.id);
      return 'unauthorized';
    }
    return finish({
      outcome: 'failed',
      content: `The tool failed: ${untrustedWithin(use.name, result.message, maxBytes - storedBytes('The tool failed: '))}`,
      isError: true,
      durationMs,
    });
  }
  if (result.kind === 'failed') {
    return finish({
      outcome: 'failed',
      content: `The tool failed: ${untrustedWithin(use.name, result.message, maxBytes - storedBytes('The tool failed: '))}`,
      isError: true,
      executionId: result.executionId,
      durationMs,
    });
  }
  const text = typeof result.data === 'string' ? result.data : JSON.stringify(result.data ?? null);
  return finish({
    outcome: 'succeeded',
    content: untrustedWithin(use.name, text, maxBytes),
    isError: false,
    executionId: result.executionId,
    durationMs,
  });
}

/**
 * What Asana returned (or said in refusing), marked as untrusted data and cut so that the whole
 * takes at most `maxStoredBytes` once stored.
 */
function untrustedWithin(toolName: string, text: string, maxStoredBytes: number): string {
  const wrapper = storedBytes(markUntrusted(toolName, ''));
  return markUntrusted(toolName, truncateStored(text, Math.max(0, maxStoredBytes - wrapper)));
}
