/**
 * The chat: Claude's tool loop acting in the user's connections, one conversation per lease.
 *
 * - `use-cases.ts`: the run routes (start, message, resume, approve) and delete.
 * - `open-run.ts`: the one set-up every run shares (verify URL, lease, `Run`, error mapping).
 * - `run.ts`: the loop: call Claude, run its tools, pause for the user or a budget.
 * - `tool-decision.ts`: what happens to one tool call, as a pure function.
 * - `tool-calls.ts`: running a batch of tool calls exactly once, recording each outcome.
 * - `toolbox.ts`: the user's scoped tools; `approvals.ts`: recording decisions.
 * - `conversation.ts`: the held conversation's writes; `lease.ts`: taking and giving it back.
 * - `read-models.ts`: `GET /conversations` and `GET /conversations/{id}`.
 * - `deadline.ts`: the request's deadline; `events.ts` and `text-relay.ts`: what a streaming client hears.
 * - `messages.ts`: message helpers; `settings.ts`: settings and dependencies; `outcome.ts`: the answer.
 */
export { inputHash } from './approvals';
export { CALL_MARGIN_MS, FUNCTION_MARGIN_MS, type RequestTime } from './deadline';
export type { RunEvent, RunEvents } from './events';
export type { RunRequest } from './open-run';
export type { RunOutcome, ToolCallView } from './outcome';
export { type ConversationView, getConversation, listConversations } from './read-models';
export { type ChatDeps, type ChatSettings, DEFAULT_SYSTEM_PROMPT } from './settings';
export { decideApproval, deleteConversation, postMessage, resumeConversation, startConversation } from './use-cases';
