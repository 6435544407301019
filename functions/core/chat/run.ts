import { createAuthorizationLink } from '../connections';
import type { Message, ModelResponse, RunStatus, StoredMessage, ToolDefinition, ToolUseBlock } from '../domain';
import { UpstreamError } from '../errors';
import { fitWindow, replyOf } from '../history';
import type { ModelRequest, RunStop, ToolFinish } from '../ports';
import type { HeldConversation } from './conversation';
import type { Deadline } from './deadline';
import type { RunEvents } from './events';
import { STOP_COMPLETES, STOP_TRUNCATES, sendable, shrinkToFit, toolNamesIn, toolUsesOf } from './messages';
import type { RunOutcome } from './outcome';
import type { ChatDeps } from './settings';
import { refuseTruncated, runToolBatch, ToolCallLog, type ToolContext } from './tool-calls';
import { TextRelay } from './text-relay';
import { openToolbox, type Toolbox } from './toolbox';

/** What a request adds to its run: its deadline, and where its events go when it streams. */
export interface RunOptions {
  readonly deadline: Deadline;
  readonly events?: RunEvents;
  /** The user's tools, already being listed (a run that surely calls Claude starts this early). */
  readonly toolbox?: Promise<Toolbox>;
}

/** The first retry of a failed model call waits this long, each next one twice as long (never past the deadline). */
const RETRY_BACKOFF_MS = 500;

/**
 * Claude refuses a history holding tool blocks when no tool is offered: with none left to the
 * user, the tools the history used stay listed, described as no longer available.
 */
function retiredTools(messages: readonly Message[]): ToolDefinition[] {
  return toolNamesIn(messages).map((name) => ({
    name,
    description: 'No longer available to this user; do not call it.',
    input_schema: { type: 'object', properties: {} },
  }));
}

/** Upstream failures worth another try: Claude was overloaded, unreachable or slow. */
const retryable = (error: unknown) =>
  error instanceof UpstreamError && (error.code === 'upstream_unavailable' || error.code === 'upstream_timeout');

/**
 * One request's run over a held conversation: the tool loop until Claude is done, a budget runs
 * out, or the user is needed (approvals, a connection to authorize).
 */
export class Run {
  private toolbox: Toolbox | undefined;
  private modelCalls = 0;
  private readonly log = new ToolCallLog();
  private authorizationUrl: string | null = null;
  private readonly text: TextRelay;
  private begun = false;
  /** Which budget paused this run, if one did. */
  private stoppedBy: RunStop | undefined;

  constructor(
    private readonly deps: ChatDeps,
    readonly conversation: HeldConversation,
    private readonly verifyUrl: string,
    private readonly options: RunOptions,
  ) {
    this.text = new TextRelay(options.events);
  }

  private get tools(): ToolContext {
    return {
      deps: this.deps,
      conversation: this.conversation,
      log: this.log,
      deadline: this.options.deadline,
      events: this.options.events,
      text: this.text,
    };
  }

  /** Tells a streaming client which conversation runs, once, before anything else happens in it. */
  private begin(): void {
    if (this.begun) return;
    this.begun = true;
    this.options.events?.emit({ event: 'run', data: { conversationId: this.conversation.id } });
  }

  /** The user's tools, listed once per request. */
  private async openToolbox(): Promise<Toolbox> {
    this.toolbox ??= await (this.options.toolbox ?? openToolbox(this.deps, this.conversation.sub));
    return this.toolbox;
  }

  /** Runs the tool loop until Claude is done, a budget runs out, or the user is needed. */
  async loop(): Promise<void> {
    const { conversation } = this;
    this.begin();
    for (;;) {
      const last = await conversation.lastMessage();
      if (!last) throw new Error('conversation without messages');
      const uses = last.role === 'assistant' ? toolUsesOf(last) : [];
      // Stored by this request: no call of it can have a record yet.
      const fresh = last === conversation.lastAssistant;
      if (uses.length > 0 && STOP_TRUNCATES.has(last.stopReason ?? '')) {
        // Claude was cut off: its tool calls may be incomplete, so none of them runs.
        const { results, finished, settled } = await refuseTruncated(this.tools, uses, this.toolbox, fresh);
        await conversation.append(
          { role: 'user', content: results },
          { changes: { status: 'completed', truncated: true, pendingApprovals: [] }, finished, settled, release: true },
        );
        return;
      }
      if (uses.length > 0) {
        if (!(await this.runTools(uses, fresh))) return;
        continue;
      }
      if (last.role === 'assistant' && last.stopReason !== 'pause_turn') {
        await this.complete(last);
        return;
      }
      const toolbox = await this.openToolbox();
      if (toolbox.kind === 'unauthorized') return this.needAuthorization(toolbox.connection);
      if (this.deps.quota?.usedUp()) {
        // The caller's daily tokens ran out mid-run: pause, as for any budget; resume tomorrow's quota.
        this.stoppedBy = 'quota';
        await conversation.update({ status: 'in_progress' }, { release: true });
        return;
      }
      if (this.modelCalls >= this.deps.settings.modelCallBudget || !(await this.callModel(toolbox))) {
        this.stoppedBy = this.modelCalls >= this.deps.settings.modelCallBudget ? 'model_call_budget' : 'deadline';
        await conversation.update({ status: 'in_progress' }, { release: true });
        return;
      }
    }
  }

  /** Claude answered without tools: the run is complete (truncated when it was cut off). */
  private async complete(last: StoredMessage): Promise<void> {
    const truncated = STOP_TRUNCATES.has(last.stopReason ?? '');
    const { header } = this.conversation;
    // The answer's own append usually recorded this already; write only what is missing.
    if (header.status !== 'completed' || (header.truncated ?? false) !== truncated) {
      await this.conversation.update({ status: 'completed', truncated }, { release: true });
    }
  }

  /**
   * Runs a batch of tool calls; false when the run must pause (approvals, the deadline, or the
   * connection needs the user): the pause is the run's last write and carries the batch's records.
   */
  private async runTools(uses: readonly ToolUseBlock[], fresh: boolean): Promise<boolean> {
    await this.conversation.renewLease();
    const batch = await runToolBatch(this.tools, uses, () => this.openToolbox(), fresh);
    switch (batch.kind) {
      case 'unauthorized':
        await this.needAuthorization(batch.connection, batch.finished);
        return false;
      case 'awaiting_approval':
        await this.conversation.update(
          { status: 'awaiting_approval', pendingApprovals: batch.approvals },
          { proposed: batch.proposed, finished: batch.finished, release: true },
        );
        return false;
      case 'out_of_time':
        this.stoppedBy = 'deadline';
        await this.conversation.update({ status: 'in_progress' }, { finished: batch.finished, release: true });
        return false;
      case 'finished':
        await this.conversation.append(
          { role: 'user', content: batch.results },
          { changes: { status: 'in_progress', pendingApprovals: [] }, finished: batch.finished, settled: batch.settled },
        );
        this.deps.faults?.checkpoint('after_tools_finished');
        return true;
    }
  }

  private async needAuthorization(connection: string, finished: readonly ToolFinish[] = []): Promise<void> {
    const { sub } = this.conversation;
    // A user who never connected has no account yet, and a link needs one.
    await this.deps.accounts.getOrCreate(sub, connection);
    const link = await createAuthorizationLink(this.deps.connections, sub, connection, this.verifyUrl);
    this.authorizationUrl = link.authorizationUrl;
    await this.conversation.update({ status: 'needs_authorization' }, { finished, release: true });
  }

  /** Calls Claude and stores its answer; false when the deadline left no time for the call. */
  private async callModel(toolbox: Extract<Toolbox, { kind: 'ready' }>): Promise<boolean> {
    // The window grows by this run's messages: fit it again before every call.
    const history = fitWindow(await this.conversation.history(), this.deps.settings.historyTokenBudget);
    await this.conversation.renewLease();
    // Even alone, the newest exchange may be over the budget (many large tool results): it is
    // shrunk, never sent as a request Claude must refuse on every resume.
    const messages = shrinkToFit(sendable(history), this.deps.settings.historyTokenBudget);
    const calledAt = this.deps.clock.now();
    const response = await this.callWithinDeadline({
      system: this.deps.settings.systemPrompt,
      tools: toolbox.tools.length > 0 ? toolbox.tools : retiredTools(messages),
      messages,
    });
    if (response === 'out_of_time') return false;
    this.modelCalls++;
    this.deps.observer?.modelCalled({ latencyMs: this.deps.clock.now() - calledAt, usage: response.usage });
    // Stored exactly as received, even empty: only what is sent back is cleaned (see `sendable`).
    const { content, stopReason: stop } = response;
    const hasTools = toolUsesOf({ role: 'assistant', content }).length > 0;
    const status: RunStatus = !hasTools && (STOP_COMPLETES.has(stop) || STOP_TRUNCATES.has(stop)) ? 'completed' : 'in_progress';
    // The call's tokens are counted with the answer they paid for; an answer that completes the
    // run is its last write and gives the lease back.
    const charge = this.deps.quota?.charge(response.usage);
    try {
      await this.conversation.append(
        { role: 'assistant', content },
        {
          stopReason: stop,
          changes: { addUsage: response.usage, status, ...(status === 'completed' ? { truncated: STOP_TRUNCATES.has(stop) } : {}) },
          charge,
          release: status === 'completed',
        },
      );
    } catch (error) {
      this.text.drop();
      if (charge) await this.deps.quota?.record(charge).catch(() => undefined);
      throw error;
    }
    this.text.keep();
    this.deps.faults?.checkpoint('after_assistant_saved');
    return true;
  }

  /**
   * One model call bounded by the deadline: its timeout is `min(model timeout, time left − 1 s)`,
   * and a failed call is retried only while time remains. An aborted or failed call leaves
   * nothing behind (a streaming client is told to drop its text).
   */
  private async callWithinDeadline(request: ModelRequest): Promise<ModelResponse | 'out_of_time'> {
    const { model, clock, settings } = this.deps;
    for (let attempt = 0; ; attempt++) {
      const timeoutMs = this.options.deadline.callTimeout(settings.modelTimeoutMs);
      if (timeoutMs <= 0) return 'out_of_time';
      const signal = clock.signalAfter(timeoutMs);
      let failure: unknown;
      try {
        return this.options.events
          ? await model.stream(request, { signal, onText: (part) => this.text.hear(part) })
          : await model.complete(request, { signal });
      } catch (error) {
        failure = error;
      }
      this.text.drop();
      if (signal.aborted) {
        // Cut short by the deadline: the run pauses. Cut by the model's own timeout: Claude was slow.
        if (timeoutMs < settings.modelTimeoutMs) return 'out_of_time';
        failure = new UpstreamError('timeout', 'anthropic', 'Claude did not answer in time. Retrying is safe.');
      }
      const backoffMs = RETRY_BACKOFF_MS * 2 ** attempt;
      if (!retryable(failure) || attempt >= settings.modelMaxRetries || this.options.deadline.callTimeout() <= backoffMs) throw failure;
      await clock.sleep(backoffMs);
    }
  }

  /** The run's outcome as the API answers it. */
  async outcome(): Promise<RunOutcome> {
    const { conversation } = this;
    this.begin();
    const { status, truncated, pendingApprovals } = conversation.header;
    this.deps.observer?.runEnded({ status, ...(status === 'in_progress' && this.stoppedBy ? { stoppedBy: this.stoppedBy } : {}) });
    const last = await conversation.lastMessage();
    const answer = async () =>
      last?.role === 'assistant'
        ? last
        : (conversation.lastAssistant ?? (await conversation.history()).findLast((message) => message.role === 'assistant'));
    return {
      conversationId: conversation.id,
      status,
      reply: status === 'completed' ? replyOf(await answer()) : null,
      toolCalls: this.log.calls,
      pendingApprovals: status === 'awaiting_approval' ? pendingApprovals : [],
      authorizationUrl: status === 'needs_authorization' ? this.authorizationUrl : null,
      ...(status === 'completed' && truncated ? { truncated: true as const } : {}),
    };
  }
}
