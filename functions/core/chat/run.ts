import { createAuthorizationLink } from '../connections';
import type { RunStatus, StoredMessage, ToolUseBlock } from '../domain';
import { fitWindow, replyOf } from '../history';
import type { HeldConversation } from './conversation';
import { addUsage, STOP_COMPLETES, STOP_TRUNCATES, sendable, toolUsesOf } from './messages';
import type { RunOutcome } from './outcome';
import type { ChatDeps } from './settings';
import { refuseTruncated, runToolBatch, ToolCallLog, type ToolContext } from './tool-calls';
import { openToolbox, type Toolbox } from './toolbox';

/**
 * One request's run over a held conversation: the tool loop until Claude is done, a budget runs
 * out, or the user is needed (approvals, a connection to authorize).
 */
export class Run {
  private toolbox: Toolbox | undefined;
  private modelCalls = 0;
  private readonly startedAt: number;
  private readonly log = new ToolCallLog();
  private authorizationUrl: string | null = null;

  constructor(
    private readonly deps: ChatDeps,
    readonly conversation: HeldConversation,
    private readonly verifyUrl: string,
  ) {
    this.startedAt = deps.clock.now();
  }

  private get tools(): ToolContext {
    return { deps: this.deps, conversation: this.conversation, log: this.log };
  }

  /** The user's tools, listed once per request. */
  private async openToolbox(): Promise<Toolbox> {
    this.toolbox ??= await openToolbox(this.deps, this.conversation.sub);
    return this.toolbox;
  }

  /** Runs the tool loop until Claude is done, a budget runs out, or the user is needed. */
  async loop(): Promise<void> {
    const { conversation } = this;
    for (;;) {
      const last = await conversation.lastMessage();
      if (!last) throw new Error('conversation without messages');
      const uses = last.role === 'assistant' ? toolUsesOf(last) : [];
      if (uses.length > 0 && STOP_TRUNCATES.has(last.stopReason ?? '')) {
        // Claude was cut off: its tool calls may be incomplete, so none of them runs.
        const results = await refuseTruncated(this.tools, uses, this.toolbox);
        await conversation.append(
          { role: 'user', content: results },
          { changes: { status: 'completed', truncated: true, pendingApprovals: [] } },
        );
        return;
      }
      if (uses.length > 0) {
        if (!(await this.runTools(uses))) return;
        continue;
      }
      if (last.role === 'assistant' && last.stopReason !== 'pause_turn') {
        await this.complete(last);
        return;
      }
      const toolbox = await this.openToolbox();
      if (toolbox.kind === 'unauthorized') return this.needAuthorization(toolbox.connection);
      const elapsed = this.deps.clock.now() - this.startedAt;
      if (this.modelCalls >= this.deps.settings.modelCallBudget || elapsed >= this.deps.settings.timeBudgetMs) {
        await conversation.update({ status: 'in_progress' });
        return;
      }
      await this.callModel(toolbox);
    }
  }

  /** Claude answered without tools: the run is complete (truncated when it was cut off). */
  private async complete(last: StoredMessage): Promise<void> {
    const truncated = STOP_TRUNCATES.has(last.stopReason ?? '');
    const { header } = this.conversation;
    // The answer's own append usually recorded this already; write only what is missing.
    if (header.status !== 'completed' || (header.truncated ?? false) !== truncated) {
      await this.conversation.update({ status: 'completed', truncated });
    }
  }

  /** Runs a batch of tool calls; false when the run must pause (approvals, or the connection needs the user). */
  private async runTools(uses: readonly ToolUseBlock[]): Promise<boolean> {
    const batch = await runToolBatch(this.tools, uses, () => this.openToolbox());
    switch (batch.kind) {
      case 'unauthorized':
        await this.needAuthorization(batch.connection);
        return false;
      case 'awaiting_approval':
        await this.conversation.update({ status: 'awaiting_approval', pendingApprovals: batch.approvals });
        return false;
      case 'finished':
        this.deps.faults?.checkpoint('after_tools_finished');
        await this.conversation.append(
          { role: 'user', content: batch.results },
          { changes: { status: 'in_progress', pendingApprovals: [] } },
        );
        return true;
    }
  }

  private async needAuthorization(connection: string): Promise<void> {
    const { sub } = this.conversation;
    // A user who never connected has no account yet, and a link needs one.
    await this.deps.accounts.getOrCreate(sub, connection);
    const link = await createAuthorizationLink(this.deps.connections, sub, connection, this.verifyUrl);
    this.authorizationUrl = link.authorizationUrl;
    await this.conversation.update({ status: 'needs_authorization' });
  }

  private async callModel(toolbox: Extract<Toolbox, { kind: 'ready' }>): Promise<void> {
    // The window grows by this run's messages: fit it again before every call.
    const history = fitWindow(await this.conversation.history(), this.deps.settings.historyTokenBudget);
    const response = await this.deps.model.complete({
      system: this.deps.settings.systemPrompt,
      tools: toolbox.tools,
      messages: sendable(history),
    });
    this.modelCalls++;
    // Stored exactly as received, even empty: only what is sent back is cleaned (see `sendable`).
    const { content, stopReason: stop } = response;
    const hasTools = toolUsesOf({ role: 'assistant', content }).length > 0;
    const status: RunStatus = !hasTools && (STOP_COMPLETES.has(stop) || STOP_TRUNCATES.has(stop)) ? 'completed' : 'in_progress';
    await this.conversation.append(
      { role: 'assistant', content },
      {
        stopReason: stop,
        changes: {
          usage: addUsage(this.conversation.header.usage, response.usage),
          status,
          truncated: status === 'completed' && STOP_TRUNCATES.has(stop),
        },
      },
    );
    this.deps.faults?.checkpoint('after_assistant_saved');
  }

  /** The run's outcome as the API answers it. */
  async outcome(): Promise<RunOutcome> {
    const { conversation } = this;
    const { status, truncated, pendingApprovals } = conversation.header;
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
