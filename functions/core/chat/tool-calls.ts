import type { PendingApproval, ToolOutcome, ToolRecord, ToolResultBlock, ToolUseBlock } from '../domain';
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

/** How a batch of tool calls ended. */
export type BatchOutcome =
  /** Every call has its result, in Claude's order: they go back to Claude in one message. */
  | { readonly kind: 'finished'; readonly results: readonly ToolResultBlock[] }
  /** Some calls wait for the user's decision; none of the others' results is sent yet. */
  | { readonly kind: 'awaiting_approval'; readonly approvals: readonly PendingApproval[] }
  /** The connection refused to run a tool (or its tools cannot be listed): the user must reconnect. */
  | { readonly kind: 'unauthorized'; readonly connection: string }
  /** The deadline came before some call could start: those run on `resume`, the finished ones are kept. */
  | { readonly kind: 'out_of_time' };

type Record_ = Omit<ToolRecord, 'toolUseId'>;

/** How a call ended, as recorded and given to Claude. */
interface Finish {
  readonly outcome: ToolOutcome;
  readonly content: string;
  readonly isError: boolean;
  readonly executionId?: string;
  /** Time the tool ran; absent for a call that never ran. */
  readonly durationMs?: number;
}

/** Records how a call ended, adds it to the request's log, and returns its `tool_result`. */
export async function finishCall(ctx: ToolContext, use: ToolUseBlock, base: Record_, finish: Finish): Promise<ToolResultBlock> {
  const { deps, conversation } = ctx;
  await deps.store.finishTool(conversation.sub, conversation.id, use.id, {
    name: base.name,
    input: base.input,
    inputHash: base.inputHash,
    actor: base.actor,
    connection: base.connection,
    outcome: finish.outcome,
    result: finish.content,
    isError: finish.isError,
    finishedAt: iso(deps.clock.now()),
    executionId: finish.executionId,
    durationMs: finish.durationMs,
  });
  const durationMs = finish.durationMs ?? 0;
  ctx.log.add({ toolUseId: use.id, name: use.name, input: use.input, outcome: finish.outcome, durationMs });
  ctx.events?.emit({ event: 'tool_result', data: { toolUseId: use.id, name: use.name, outcome: finish.outcome, durationMs } });
  deps.observer?.toolFinished({ name: use.name, outcome: finish.outcome, durationMs: finish.durationMs });
  return { type: 'tool_result', tool_use_id: use.id, content: finish.content, ...(finish.isError ? { is_error: true } : {}) };
}

/** Tells a streaming client that Claude asked for this call (before it runs, is refused or waits for approval). */
function announce(ctx: ToolContext, use: ToolUseBlock): void {
  ctx.text.mark();
  ctx.events?.emit({ event: 'tool_call', data: { toolUseId: use.id, name: use.name, input: use.input } });
}

const notRun = (kind: keyof typeof NOT_RUN): Finish => ({ outcome: NOT_RUN[kind].outcome, content: NOT_RUN[kind].result, isError: true });

/** The record every call of this request is written with. */
function baseOf(ctx: ToolContext, use: ToolUseBlock, connection: string | undefined): Record_ {
  return {
    name: use.name,
    input: use.input,
    inputHash: inputHash(use.input),
    actor: ctx.conversation.sub,
    connection: connection ?? ctx.deps.settings.connections[0] ?? '',
  };
}

/** Answers every `tool_use` of a cut-off response as not run (Claude's calls may be incomplete). */
export async function refuseTruncated(
  ctx: ToolContext,
  uses: readonly ToolUseBlock[],
  toolbox: Toolbox | undefined,
): Promise<ToolResultBlock[]> {
  const records = await ctx.deps.store.toolRecords(
    ctx.conversation.sub,
    ctx.conversation.id,
    uses.map((use) => use.id),
  );
  const finished = new Map(records.filter((record) => record.outcome !== undefined).map((record) => [record.toolUseId, record]));
  ctx.log.expect(uses);
  const results: ToolResultBlock[] = [];
  for (const use of uses) {
    const record = finished.get(use.id);
    if (record) {
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
    results.push(await finishCall(ctx, use, baseOf(ctx, use, connection), notRun('truncated')));
  }
  return results;
}

/**
 * Runs the `tool_use` blocks of Claude's last message in parallel, each exactly once (a
 * conditional start record). `toolbox` is opened only when a call has to run: a resumed batch
 * of finished results does not need the user's tools.
 */
export async function runToolBatch(
  ctx: ToolContext,
  uses: readonly ToolUseBlock[],
  toolbox: () => Promise<Toolbox>,
): Promise<BatchOutcome> {
  const { deps, conversation } = ctx;
  const records = new Map(
    (
      await deps.store.toolRecords(
        conversation.sub,
        conversation.id,
        uses.map((use) => use.id),
      )
    ).map((record) => [record.toolUseId, record]),
  );
  ctx.log.expect(uses);
  const maxBytes = Math.min(deps.settings.toolResultMaxBytes, Math.floor(MESSAGE_RESULTS_MAX_BYTES / uses.length));
  const needsExecution = uses.some((use) => records.get(use.id)?.outcome === undefined);
  let connectionOf: ReadonlyMap<string, string> = new Map();
  let schemaOf: ReadonlyMap<string, Record<string, unknown>> = new Map();
  if (needsExecution) {
    const box = await toolbox();
    if (box.kind === 'unauthorized') return box;
    connectionOf = box.connectionOf;
    schemaOf = box.schemaOf;
  }

  const pending: (PendingApproval | undefined)[] = [];
  let unauthorized: string | undefined;
  let notSent: UpstreamError | undefined;
  let outOfTime = false;
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
    return { use, base, decision };
  });
  // Every call Claude asked for that this request handles is announced before any of them runs.
  for (const { use, decision } of calls) if (decision.kind !== 'replay') announce(ctx, use);
  const results = await Promise.all(
    calls.map(async ({ use, base, decision }, index): Promise<ToolResultBlock | undefined> => {
      switch (decision.kind) {
        case 'replay':
          return { type: 'tool_result', tool_use_id: use.id, content: decision.result, ...(decision.isError ? { is_error: true } : {}) };
        case 'interrupted':
          return finishCall(ctx, use, base, notRun('interrupted'));
        case 'denied':
          return finishCall(ctx, use, base, notRun('denied'));
        case 'refused':
          return finishCall(ctx, use, base, {
            outcome: 'failed',
            content: `The tool "${use.name}" is not available to this user; it was not run.`,
            isError: true,
          });
        case 'invalid':
          return finishCall(ctx, use, base, {
            outcome: 'failed',
            content: `Not run: the input does not match the tool's schema (${decision.problems.join('; ')}).`,
            isError: true,
          });
        case 'await_approval':
          if (decision.propose) await deps.store.proposeTool(conversation.sub, conversation.id, { toolUseId: use.id, ...base });
          pending[index] = { toolUseId: use.id, name: use.name, input: use.input };
          return undefined;
        case 'execute': {
          const result = await executeCall(ctx, use, base, maxBytes);
          if (result instanceof UpstreamError) notSent ??= result;
          else if (result === 'unauthorized') unauthorized ??= base.connection;
          else if (result === 'out_of_time') outOfTime = true;
          else return result;
          return undefined;
        }
      }
    }),
  );

  // Only once every call of the batch has settled (and recorded its outcome): the request fails
  // with a 5xx, and `resume` sends the calls that were not sent.
  if (notSent) throw notSent;

  if (unauthorized !== undefined) return { kind: 'unauthorized', connection: unauthorized };
  const approvals = pending.filter((approval): approval is PendingApproval => approval !== undefined);
  if (approvals.length > 0) return { kind: 'awaiting_approval', approvals };
  if (outOfTime) return { kind: 'out_of_time' };
  return { kind: 'finished', results: results.filter((block): block is ToolResultBlock => block !== undefined) };
}

/**
 * Runs one tool under the caller's identifier, once: the start is recorded before it runs, and it
 * is bounded by the deadline. A call that may have reached Asana and did not answer is `unknown`.
 */
async function executeCall(
  ctx: ToolContext,
  use: ToolUseBlock,
  base: Record_,
  maxBytes: number,
): Promise<ToolResultBlock | 'unauthorized' | 'out_of_time' | UpstreamError> {
  const { deps, conversation } = ctx;
  const timeoutMs = ctx.deadline.callTimeout();
  if (timeoutMs <= 0) return 'out_of_time';
  const startedAt = deps.clock.now();
  const started = await deps.store.startTool(conversation.sub, conversation.id, { toolUseId: use.id, ...base, startedAt: iso(startedAt) });
  if (!started) return finishCall(ctx, use, base, notRun('interrupted'));
  deps.faults?.checkpoint('after_tool_started');
  const signal = deps.clock.signalAfter(timeoutMs);
  let result;
  try {
    result = await deps.accounts.execute(conversation.sub, base.connection, use.name, use.input, { signal });
  } catch (error) {
    if (signal.aborted) {
      // Abandoned at the deadline: it may have reached Asana, so it is never run again.
      return finishCall(ctx, use, base, {
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
    return finishCall(ctx, use, base, { outcome: 'unknown', content: result.message, isError: true, durationMs });
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
    return finishCall(ctx, use, base, {
      outcome: 'failed',
      content: `The tool failed: ${untrustedWithin(use.name, result.message, maxBytes - storedBytes('The tool failed: '))}`,
      isError: true,
      durationMs,
    });
  }
  if (result.kind === 'failed') {
    return finishCall(ctx, use, base, {
      outcome: 'failed',
      content: `The tool failed: ${untrustedWithin(use.name, result.message, maxBytes - storedBytes('The tool failed: '))}`,
      isError: true,
      executionId: result.executionId,
      durationMs,
    });
  }
  const text = typeof result.data === 'string' ? result.data : JSON.stringify(result.data ?? null);
  return finishCall(ctx, use, base, {
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
