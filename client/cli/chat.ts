import { type Answer, continueHint, type StreamEvent } from './api';
import { DEFAULT_PROMPT } from './args';
import { authorize, type ConnectContext, label } from './connect';
import {
  conversationSchema,
  type PendingApproval,
  type RunOutcome,
  runOutcomeSchema,
  textEventSchema,
  toolCallEventSchema,
  toolResultEventSchema,
} from './contract';
import { ApiError, CliError, ExitCode } from './errors';
import type { Terminal } from './terminal';

/** `in_progress` runs are resumed at most this many times in one invocation. */
const MAX_RESUMES = 50;
/** A run may ask for authorization again after a connect (e.g. revoked meanwhile), but not forever. */
const MAX_AUTHORIZATIONS = 2;
/** The only connection the chat's tools use today. */
const CHAT_CONNECTION = 'asana';

export interface ChatContext extends ConnectContext {
  readonly terminal: Terminal;
  /** Whether run requests ask for Server-Sent Events (the default; `--no-stream` and `--json` turn it off). */
  readonly stream: boolean;
}

/**
 * A chat turn. Primary course: post the prompt (a new conversation, or a message to
 * `conversationId`), then drive the run to `completed` — resuming `in_progress`, asking the user
 * for each pending approval, connecting on `needs_authorization` and resuming — printing every
 * tool call and the reply. With a conversation and no prompt, it finishes that conversation's
 * pending run (or shows its last state).
 */
export async function chat(ctx: ChatContext, prompt: string | undefined, conversationId: string | undefined): Promise<void> {
  const done = await turn(ctx, prompt, conversationId);
  ctx.output.note(`(conversation ${done.conversationId}; continue it with --conversation ${done.conversationId})`);
}

async function turn(ctx: ChatContext, prompt: string | undefined, conversationId: string | undefined): Promise<RunOutcome> {
  const verifyUrl = ctx.callback.url;
  if (conversationId === undefined) {
    return drive(ctx, await run(ctx, '/conversations', { message: prompt ?? DEFAULT_PROMPT, verifyUrl }));
  }
  const path = `/conversations/${encodeURIComponent(conversationId)}`;
  if (prompt === undefined) return drive(ctx, await pendingRun(ctx, path));
  let posted: RunAnswer;
  try {
    posted = await run(ctx, `${path}/messages`, { message: prompt, verifyUrl });
  } catch (error) {
    if (!(error instanceof ApiError) || (error.code !== 'approval_pending' && error.code !== 'resume_required')) throw error;
    ctx.output.note('The conversation has an unfinished run; finishing it first.');
    await drive(ctx, await pendingRun(ctx, path));
    posted = await run(ctx, `${path}/messages`, { message: prompt, verifyUrl });
  }
  return drive(ctx, posted);
}

/** The conversation's current run: its pending approvals as an outcome, else what `resume` answers. */
async function pendingRun(ctx: ChatContext, path: string): Promise<RunAnswer> {
  const current = await ctx.api.call('GET', path, conversationSchema);
  if (current.body.status === 'awaiting_approval') {
    const body: RunOutcome = {
      conversationId: current.body.conversationId,
      status: 'awaiting_approval',
      reply: null,
      toolCalls: [],
      pendingApprovals: current.body.pendingApprovals,
      authorizationUrl: null,
    };
    return { status: current.status, raw: body, body };
  }
  return run(ctx, `${path}/resume`, { verifyUrl: ctx.callback.url });
}

/** Drives a run to `completed` and returns that outcome; the steps are in {@link chat}. */
async function drive(ctx: ChatContext, first: RunAnswer): Promise<RunOutcome> {
  let answer = first;
  let resumes = 0;
  let authorizations = 0;
  for (;;) {
    const outcome = answer.body;
    const path = `/conversations/${encodeURIComponent(outcome.conversationId)}`;
    report(ctx, answer);
    switch (outcome.status) {
      case 'completed':
        // A streamed reply was written as it came; one that was not (an API answering JSON) is printed whole.
        if (!ctx.output.json && outcome.reply !== null && !answer.streamedText) ctx.output.say(outcome.reply);
        if (outcome.truncated) ctx.output.note('(The reply was cut short: the model ran out of room.)');
        return outcome;
      case 'in_progress':
        if (++resumes > MAX_RESUMES) {
          throw new CliError(
            'run_unfinished',
            `The run is still in progress after ${MAX_RESUMES} resumes.`,
            ExitCode.incomplete,
            continueHint(outcome.conversationId),
          );
        }
        ctx.output.note('(still working: resuming)');
        answer = await run(ctx, `${path}/resume`, { verifyUrl: ctx.callback.url });
        break;
      case 'awaiting_approval': {
        const pending = outcome.pendingApprovals[0];
        if (!pending) throw new CliError('unexpected_response', 'The run awaits approval but lists nothing to approve.', ExitCode.failed);
        const decision = await askApproval(ctx, pending, outcome.conversationId);
        answer = await run(ctx, `${path}/approvals`, {
          toolUseId: pending.toolUseId,
          decision,
          verifyUrl: ctx.callback.url,
        });
        break;
      }
      case 'needs_authorization':
        if (++authorizations > MAX_AUTHORIZATIONS || outcome.authorizationUrl === null) {
          throw new CliError(
            'authorization_incomplete',
            'The run still needs the Asana connection to be authorized.',
            ExitCode.incomplete,
            continueHint(outcome.conversationId),
          );
        }
        ctx.output.note(`This needs your ${label(CHAT_CONNECTION)} connection first.`);
        try {
          await authorize(ctx, CHAT_CONNECTION, outcome.authorizationUrl);
        } catch (error) {
          if (!(error instanceof CliError) || error.exitCode !== ExitCode.incomplete) throw error;
          throw new CliError(
            error.code,
            error.message,
            error.exitCode,
            [error.hint, continueHint(outcome.conversationId)].filter(Boolean).join('\n'),
          );
        }
        answer = await run(ctx, `${path}/resume`, { verifyUrl: ctx.callback.url });
        break;
    }
  }
}

/** `-> Calling: <tool>` for each call the run reports (its outcome when it did not succeed). */
function report(ctx: ChatContext, answer: RunAnswer): void {
  ctx.output.result(answer.raw);
  if (ctx.output.json || answer.streamed) return;
  for (const call of answer.body.toolCalls) {
    ctx.output.say(`-> Calling: ${call.name}${call.outcome === 'succeeded' ? '' : ` (${call.outcome})`}`);
  }
}

/** Shows the call and asks `Approve <tool>? [y/N]`; anything but y/yes denies; no answer at all stops (exit 5). */
async function askApproval(ctx: ChatContext, pending: PendingApproval, conversationId: string): Promise<'approve' | 'deny'> {
  ctx.output.note(`Claude wants to call ${pending.name} with:`);
  for (const line of JSON.stringify(pending.input, null, 2).split('\n')) ctx.output.note(`  ${line}`);
  const reply = await ctx.terminal.ask(`Approve ${pending.name}? [y/N] `);
  if (reply === undefined) {
    throw new CliError(
      'approval_unanswered',
      `No answer to "Approve ${pending.name}?" (stdin ended).`,
      ExitCode.incomplete,
      continueHint(conversationId),
    );
  }
  const decision = /^\s*y(es)?\s*$/i.test(reply) ? 'approve' : 'deny';
  ctx.output.note(decision === 'approve' ? `Approved ${pending.name}.` : `Denied ${pending.name}.`);
  return decision;
}

/** A run route's answer; `streamedText` when a streamed answer already wrote some of Claude's text. */
interface RunAnswer extends Answer<RunOutcome> {
  readonly streamedText?: boolean;
}

/**
 * One request to a run route: streamed (tool calls and text printed as their events arrive) or,
 * with `--no-stream`/`--json` or when the API answers JSON, one JSON answer printed whole.
 */
async function run(ctx: ChatContext, path: string, body: unknown): Promise<RunAnswer> {
  if (!ctx.stream) return ctx.api.call('POST', path, runOutcomeSchema, body);
  const printer = new StreamPrinter(ctx);
  try {
    const answer = await ctx.api.stream(path, runOutcomeSchema, body, (event) => printer.event(event));
    printer.end(answer.body);
    return { ...answer, streamedText: printer.wroteText };
  } catch (error) {
    printer.end(undefined);
    throw error;
  }
}

/**
 * Prints a streamed run as it happens, on stdout: `-> Calling: <tool>` when Claude asks for a
 * call, completed by ` (denied)`, ` (failed)` or ` (unknown)` when its result says it did not
 * succeed, and Claude's text delta by delta. A call line stays open until its result (or the
 * next event) so the suffix lands on it; a call that waits for approval ends with
 * ` (awaiting approval)`, and the request that decides it names it again with its outcome.
 */
class StreamPrinter {
  /** What the cursor is in the middle of: nothing (a line start), Claude's text, or a call line. */
  private open: 'none' | 'text' | { readonly toolUseId: string } = 'none';
  /** At the start of the output or right after a call line: newlines that separate text blocks are not printed. */
  private fresh = true;
  wroteText = false;

  constructor(private readonly ctx: ChatContext) {}

  event({ event, data }: StreamEvent): void {
    switch (event) {
      case 'text': {
        const text = textEventSchema.safeParse(data);
        if (text.success) this.text(text.data.delta);
        return;
      }
      case 'text_reset':
        this.newline();
        if (this.wroteText) this.ctx.output.note('(Claude was interrupted: disregard its text above since the last tool call.)');
        this.fresh = true;
        return;
      case 'tool_call': {
        const call = toolCallEventSchema.safeParse(data);
        if (!call.success) return;
        this.newline();
        this.ctx.output.write(`-> Calling: ${call.data.name}`);
        this.open = { toolUseId: call.data.toolUseId };
        this.fresh = true;
        return;
      }
      case 'tool_result': {
        const result = toolResultEventSchema.safeParse(data);
        if (!result.success) return;
        const suffix = result.data.outcome === 'succeeded' ? '' : ` (${result.data.outcome})`;
        if (typeof this.open === 'object' && this.open.toolUseId === result.data.toolUseId) {
          this.ctx.output.write(`${suffix}\n`);
          this.open = 'none';
        } else if (suffix !== '') {
          // Calls that ran side by side: the line of this one was closed by another's event.
          this.newline();
          this.ctx.output.say(`-> Calling: ${result.data.name}${suffix}`);
        }
        return;
      }
      default:
        // `run`, and events a newer API may add.
        return;
    }
  }

  /** The request ended: closes the open line (a call waiting for approval says so). */
  end(outcome: RunOutcome | undefined): void {
    const open = this.open;
    if (typeof open === 'object' && outcome?.pendingApprovals.some((pending) => pending.toolUseId === open.toolUseId)) {
      this.ctx.output.write(' (awaiting approval)\n');
      this.open = 'none';
    }
    this.newline();
  }

  private text(delta: string): void {
    const shown = this.fresh ? delta.replace(/^\n+/, '') : delta;
    if (shown === '') return;
    if (typeof this.open === 'object') this.newline();
    this.ctx.output.write(shown);
    this.open = shown.endsWith('\n') ? 'none' : 'text';
    this.fresh = false;
    this.wroteText = true;
  }

  private newline(): void {
    if (this.open !== 'none') this.ctx.output.write('\n');
    this.open = 'none';
  }
}
