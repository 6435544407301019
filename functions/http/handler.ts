import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { config, logger, once } from '../adapters/runtime';
import { DomainError } from '../core/errors';
import { type AccessTokenVerifier, authenticate, type Caller, createAccessTokenVerifier } from './identity';
import { withEdgeHeaders } from './headers';
import { errorResponse } from './response';

/** The access-token verifier, built once per container (the scheduled function never needs one). */
const verifier = once(
  async (): Promise<AccessTokenVerifier> =>
    createAccessTokenVerifier({
      userPoolId: config().COGNITO_USER_POOL_ID,
      clientId: config().COGNITO_CLIENT_ID,
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

/** One route's work, once the caller is known. */
export type RouteHandler = (event: APIGatewayProxyEvent, caller: Caller) => Promise<APIGatewayProxyResult>;

/**
 * The edge every function shares: verify the caller, dispatch on `METHOD resource`, and map
 * whatever is thrown to the contract (unexpected errors are logged, never exposed). Every answer
 * gets the edge headers (`no-store`, `nosniff`, CORS for the console origin).
 */
export function httpHandler(routes: Record<string, RouteHandler>) {
  return async (event: APIGatewayProxyEvent, context?: Context): Promise<APIGatewayProxyResult> => {
    logger.appendKeys({ requestId: context?.awsRequestId ?? event.requestContext?.requestId });
    try {
      const caller = await authenticate(event, await verifier());
      const route = routes[`${event.httpMethod} ${event.resource}`];
      if (!route) throw new DomainError('not_found', 'No such route.');
      return withEdgeHeaders(await route(event, caller), configuredWebOrigin());
    } catch (error) {
      const unexpected = !(error instanceof DomainError) ? error : error.code === 'internal_error' ? error.cause : undefined;
      if (unexpected !== undefined || !(error instanceof DomainError)) {
        logger.error('request failed', {
          error:
            unexpected instanceof Error
              ? { name: unexpected.name, message: unexpected.message, stack: unexpected.stack }
              : String(unexpected),
        });
      } else if (error.code.startsWith('upstream_')) {
        logger.warn('upstream failed', { code: error.code });
      }
      return withEdgeHeaders(errorResponse(error), configuredWebOrigin());
    } finally {
      logger.resetKeys();
    }
  };
}
