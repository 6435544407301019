import type { APIGatewayProxyResult } from 'aws-lambda';
import '../validation';
import { once } from '../adapters/runtime';
import {
  type ChatDeps,
  type ChatSettings,
  type RunOutcome,
  type RunRequest,
  decideApproval,
  deleteConversation,
  getConversation,
  listConversations,
  postMessage,
  resumeConversation,
  startConversation,
} from '../core/chat';
import { isConversationId } from '../core/domain';
import { DomainError } from '../core/errors';
import type { Faults } from '../core/faults';
import { type Admission, admitRun, DailyTokens, type UsageLimits, usageReport } from '../core/usage';
import { approvalBody, listQuery, messageBody, resumeBody } from '../http/contract';
import { wantsEventStream } from '../http/event-stream';
import { type EventStreamAnswer, limitedUsage, type RouteContext, type StreamingRouteHandler, streamingHttpHandler } from '../http/handler';
import { parseBody, parseQuery, pathParam } from '../http/request';
import { json, noContent } from '../http/response';
import { chatDeps } from './deps';
import { ChatMetrics } from './metrics';

/** A message over the size limit is a 413, not a 400: checked before the schema. */
function parseMessageBody(event: Parameters<typeof parseBody>[0]) {
  try {
    return parseBody(event, messageBody);
  } catch (error) {
    if (error instanceof DomainError && error.details.some((detail) => (detail as { message?: string }).message === 'too_large')) {
      throw new DomainError('payload_too_large', 'The message is larger than 16 KiB.');
    }
    throw error;
  }
}

/** A malformed id is simply not found, before the body is even read. */
function conversationId(event: Parameters<typeof pathParam>[0]): string {
  const id = pathParam(event, 'id');
  if (!isConversationId(id)) throw new DomainError('not_found', 'No such conversation.');
  return id;
}

/**
 * The `chat` function's routes. `options` exist for tests: other budgets or per-user limits, or a fault injected
 * at a named point of the run (never set in a deployment). Each run reports to the function's
 * metrics, written when it ends.
 */
export function createChatHandler(options: { settings?: Partial<ChatSettings>; faults?: Faults; limits?: Partial<UsageLimits> } = {}) {
  const usageDeps = limitedUsage(options.limits);
  const deps = once(async (): Promise<ChatDeps> => {
    const base = await chatDeps();
    return { ...base, settings: { ...base.settings, ...options.settings }, faults: options.faults };
  });
  /**
   * A run, metered: a server-side failure counts as a failed run; what it reported is written when
   * it ends. Each request has metrics of its own, so runs served side by side (the local gateway,
   * tests) never write each other's figures.
   */
  const metered =
    (run: (deps: ChatDeps, options: RunRequest) => Promise<RunOutcome>) =>
    async (ready: ChatDeps, request: RunRequest): Promise<RunOutcome> => {
      const metrics = new ChatMetrics();
      try {
        return await run({ ...ready, observer: metrics }, request);
      } catch (error) {
        metrics.runFailed(error);
        throw error;
      } finally {
        metrics.flush();
      }
    };
  /** A run's dependencies: refused once the caller's daily quota is used up, its model calls' tokens counted. */
  const runDeps = async (sub: string, admission: Admission): Promise<ChatDeps> => {
    const usage = await usageDeps();
    const usedBefore = admitRun(usage.limits, admission);
    return { ...(await deps()), quota: new DailyTokens(usage, sub, usedBefore) };
  };
  /**
   * A run route's answer: Server-Sent Events for `Accept: text/event-stream` (the streaming
   * budget), else JSON with `status` (the JSON budget). Either way the deadline also keeps
   * inside the function's remaining time.
   */
  const answer = async (
    event: Parameters<StreamingRouteHandler>[0],
    sub: string,
    { remainingMs, admission }: RouteContext,
    status: number,
    unmetered: (deps: ChatDeps, options: RunRequest) => Promise<RunOutcome>,
  ): Promise<APIGatewayProxyResult | EventStreamAnswer> => {
    const run = metered(unmetered);
    const ready = await runDeps(sub, admission);
    if (wantsEventStream(event.headers)) {
      const time = { budgetMs: ready.settings.streamTimeBudgetMs, remainingMs };
      return { eventStream: (events) => run(ready, { time, events }) };
    }
    return json(status, await run(ready, { time: { budgetMs: ready.settings.timeBudgetMs, remainingMs } }));
  };
  return streamingHttpHandler(
    {
      'GET /usage': async (_event, caller) => json(200, await usageReport(await usageDeps(), caller.sub)),
      'POST /conversations': async (event, caller, context) => {
        const body = parseMessageBody(event);
        return answer(event, caller.sub, context, 201, (ready, run) => startConversation(ready, caller.sub, body, run));
      },
      'GET /conversations': async (event, caller) => {
        const query = parseQuery(event, listQuery);
        return json(200, await listConversations(await deps(), caller.sub, query));
      },
      'GET /conversations/{id}': async (event, caller) =>
        json(200, await getConversation(await deps(), caller.sub, pathParam(event, 'id'))),
      'DELETE /conversations/{id}': async (event, caller) => {
        await deleteConversation(await deps(), caller.sub, pathParam(event, 'id'));
        return noContent();
      },
      'POST /conversations/{id}/messages': async (event, caller, context) => {
        const id = conversationId(event);
        const body = parseMessageBody(event);
        return answer(event, caller.sub, context, 200, (ready, run) => postMessage(ready, caller.sub, id, body, run));
      },
      'POST /conversations/{id}/resume': async (event, caller, context) => {
        const id = conversationId(event);
        const body = parseBody(event, resumeBody);
        return answer(event, caller.sub, context, 200, (ready, run) => resumeConversation(ready, caller.sub, id, body, run));
      },
      'POST /conversations/{id}/approvals': async (event, caller, context) => {
        const id = conversationId(event);
        const body = parseBody(event, approvalBody);
        return answer(event, caller.sub, context, 200, (ready, run) => decideApproval(ready, caller.sub, id, body, run));
      },
    },
    { limits: options.limits },
  );
}

/** The `chat` function. */
export const handler = createChatHandler();
