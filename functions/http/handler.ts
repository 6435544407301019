import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { config, logger, once, usageDeps } from '../adapters/runtime';
import { DomainError } from '../core/errors';
import { type Admission, admitRequest, type UsageDeps, type UsageLimits } from '../core/usage';
import { type AccessTokenVerifier, authenticate, type Caller, createAccessTokenVerifier } from './identity';
import { withEdgeHeaders } from './headers';
import { EventStreamWriter } from './event-stream';
import { errorResponse } from './response';

/** The access-token verifier, built once per container (the scheduled function never needs one). */
const verifier = once(
  async (): Promise<AccessTokenVerifier> =>
    createAccessTokenVerifier({
      userPoolId: config().COGNITO_USER_POOL_ID,
      clientId: [config().COGNITO_CLIENT_ID, ...(config().COGNITO_WEB_CLIENT_ID ? [config().COGNITO_WEB_CLIENT_ID!] : [])],
      issuer: config().COGNITO_ISSUER,
    }),
);

/** The console origin for the CORS headers; none when the settings themselves cannot be read. */
export function configuredWebOrigin(): string | undefined {
  try {
    return config().ONBEHALF_WEB_ORIGIN;
  } catch {
    return undefined;
  }
}

/** The per-user counters with the deployment's limits, or other limits (tests). */
export function limitedUsage(limits: Partial<UsageLimits> | undefined): () => Promise<UsageDeps> {
  if (!limits) return usageDeps;
  return async () => {
    const base = await usageDeps();
    return { ...base, limits: { ...base.limits, ...limits } };
  };
}

/** One route's work, once the caller is known. */
export type RouteHandler = (event: APIGatewayProxyEvent, caller: Caller) => Promise<APIGatewayProxyResult>;

/** A route's answer as a stream of run events: `run` gets the events and returns the `outcome` body. */
export interface EventStreamAnswer {
  readonly eventStream: (events: EventStreamWriter) => Promise<unknown>;
}

/** What a streaming function's route may read besides the request: its remaining time, and the request's admission. */
export interface RouteContext {
  readonly remainingMs?: number;
  /** The caller's tokens of the day, as counting the request read them: a run's quota check needs no read. */
  readonly admission: Admission;
}

/** A route of a streaming function: JSON, or a stream of run events. */
export type StreamingRouteHandler = (
  event: APIGatewayProxyEvent,
  caller: Caller,
  context: RouteContext,
) => Promise<APIGatewayProxyResult | EventStreamAnswer>;

/** Logs what the contract does not explain: an unexpected error in full, an upstream failure by its code. */
function logFailure(error: unknown): void {
  const unexpected = !(error instanceof DomainError) ? error : error.code === 'internal_error' ? error.cause : undefined;
  if (unexpected !== undefined || !(error instanceof DomainError)) {
    logger.error('request failed', {
      error:
        unexpected instanceof Error ? { name: unexpected.name, message: unexpected.message, stack: unexpected.stack } : String(unexpected),
    });
  } else if (error.code.startsWith('upstream_')) {
    logger.warn('upstream failed', { code: error.code });
  }
}

/**
 * The edge every function shares: verify the caller, count the request against the caller's
 * per-minute rate (`429 rate_limited`), dispatch on `METHOD resource`, and map
 * whatever is thrown to the contract (unexpected errors are logged, never exposed). Every answer
 * gets the edge headers (`no-store`, `nosniff`, CORS for the console origin).
 */
export function httpHandler(routes: Record<string, RouteHandler>, options: { limits?: Partial<UsageLimits> } = {}) {
  const usage = limitedUsage(options.limits);
  return async (event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> => {
    logger.appendKeys({ requestId: context?.awsRequestId ?? event.requestContext?.requestId });
    try {
      const caller = await authenticate(event, await verifier());
      // Every request that passes the token check counts against the caller's rate, before any work.
      await admitRequest(await usage(), caller.sub);
      const route = routes[`${event.httpMethod} ${event.resource}`];
      if (!route) throw new DomainError('not_found', 'No such route.');
      return withEdgeHeaders(await route(event, caller), configuredWebOrigin());
    } catch (error) {
      logFailure(error);
      return withEdgeHeaders(errorResponse(error), configuredWebOrigin());
    } finally {
      logger.resetKeys();
    }
  };
}

/** Writes a whole JSON answer through the response stream: status and headers in the prelude, then the body. */
function writeResult(responseStream: awslambda.HttpResponseStream, result: APIGatewayProxyResult): void {
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([name, value]) => [name, String(value)]));
  const out = awslambda.HttpResponseStream.from(responseStream, { statusCode: result.statusCode, headers });
  // The prelude goes out with the first write(), so even an empty body is written, then ended.
  out.write(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
  out.end();
}

/**
 * The edge of a function that answers through Lambda response streaming
 * (`awslambda.streamifyResponse`): the same caller check, dispatch and error mapping as
 * {@link httpHandler}, JSON answers written with their status and headers in the stream's
 * prelude, and run routes that may answer as Server-Sent Events. What fails before a stream
 * starts answers JSON with its status; what fails after it ends the stream with an `error` event.
 * The handler returns only when the run has ended, whether or not the client is still there.
 */
export function streamingHttpHandler(routes: Record<string, StreamingRouteHandler>, options: { limits?: Partial<UsageLimits> } = {}) {
  const usage = limitedUsage(options.limits);
  return awslambda.streamifyResponse(async (event: APIGatewayProxyEvent, responseStream, context: Context | undefined) => {
    logger.appendKeys({ requestId: context?.awsRequestId ?? event.requestContext?.requestId });
    const origin = configuredWebOrigin();
    try {
      let answer: APIGatewayProxyResult | EventStreamAnswer;
      try {
        const caller = await authenticate(event, await verifier());
        // Every request that passes the token check counts against the caller's rate, before any work.
        const admission = await admitRequest(await usage(), caller.sub);
        const route = routes[`${event.httpMethod} ${event.resource}`];
        if (!route) throw new DomainError('not_found', 'No such route.');
        answer = await route(event, caller, { remainingMs: context?.getRemainingTimeInMillis?.(), admission });
      } catch (error) {
        logFailure(error);
        answer = errorResponse(error);
      }
      if ('statusCode' in answer) return writeResult(responseStream, withEdgeHeaders(answer, origin));
      const events = new EventStreamWriter(responseStream, withEdgeHeaders({ headers: {} }, origin).headers);
      let outcome: unknown;
      try {
        outcome = await answer.eventStream(events);
      } catch (error) {
        logFailure(error);
        if (!events.opened) return writeResult(responseStream, withEdgeHeaders(errorResponse(error), origin));
        const failure = error instanceof DomainError ? error : undefined;
        events.emit({
          event: 'error',
          data: {
            error: {
              code: failure?.code ?? 'internal_error',
              message: failure?.message ?? 'The request failed because of an internal error.',
            },
            conversationId: failure?.extra.conversationId ?? '',
          },
        });
        return events.end();
      }
      events.emit({ event: 'outcome', data: outcome as never });
      events.end();
    } finally {
      logger.resetKeys();
    }
  });
}
