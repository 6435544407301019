import type { Answer } from './api';
import { DEFAULT_PROMPT } from './args';
import { authorize, type ConnectContext, label } from './connect';
import { conversationSchema, type PendingApproval, type RunOutcome, runOutcomeSchema } from './contract';
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
    return drive(ctx, await ctx.api.call('POST', '/conversations', runOutcomeSchema, { message: prompt ?? DEFAULT_PROMPT, verifyUrl }));
  }
  const path = `/conversations/${encodeURIComponent(conversationId)}`;
  if (prompt === undefined) return drive(ctx, await pendingRun(ctx, path));
  let posted: Answer<RunOutcome>;
  try {
    posted = await ctx.api.call('POST', `${path}/messages`, runOutcomeSchema, { message: prompt, verifyUrl });
  } catch (error) {
    if (!(error instanceof ApiError) || (error.code !== 'approval_pending' && error.code !== 'resume_required')) throw error;
    ctx.output.note('The conversation has an unfinished run; finishing it first.');
    await drive(ctx, await pendingRun(ctx, path));
    posted = await ctx.api.call('POST', `${path}/messages`, runOutcomeSchema, { message: prompt, verifyUrl });
  }
  return drive(ctx, posted);
}

/** The conversation's current run: its pending approvals as an outcome, else what `resume` answers. */
async function pendingRun(ctx: ChatContext, path: string): Promise<Answer<RunOutcome>> {
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
  return ctx.api.call('POST', `${path}/resume`, runOutcomeSchema, { verifyUrl: ctx.callback.url });
}

/** Drives a run to `completed` and returns that outcome; the steps are in {@link chat}. */
async function drive(ctx: ChatContext, first: Answer<RunOutcome>): Promise<RunOutcome> {
  let answer = first;
  let resumes = 0;
  let authorizations = 0;
  for (;;) {
    const outcome = answer.body;
    const path = `/conversations/${encodeURIComponent(outcome.conversationId)}`;
    report(ctx, answer);
    switch (outcome.status) {
      case 'completed':
        if (!ctx.output.json && outcome.reply !== null) ctx.output.say(outcome.reply);
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
        answer = await ctx.api.call('POST', `${path}/resume`, runOutcomeSchema, { verifyUrl: ctx.callback.url });
        break;
      case 'awaiting_approval': {
        const pending = outcome.pendingApprovals[0];
        if (!pending) throw new CliError('unexpected_response', 'The run awaits approval but lists nothing to approve.', ExitCode.failed);
        const decision = await askApproval(ctx, pending, outcome.conversationId);
        answer = await ctx.api.call('POST', `${path}/approvals`, runOutcomeSchema, {
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
        answer = await ctx.api.call('POST', `${path}/resume`, runOutcomeSchema, { verifyUrl: ctx.callback.url });
        break;
    }
  }
}

/** `-> Calling: <tool>` for each call the run reports (its outcome when it did not succeed). */
function report(ctx: ChatContext, answer: Answer<RunOutcome>): void {
  ctx.output.result(answer.raw);
  if (ctx.output.json) return;
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

function continueHint(conversationId: string): string {
  return `The conversation ${conversationId} is kept; continue it with --conversation ${conversationId}.`;
}
