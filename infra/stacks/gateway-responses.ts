import { ResponseType } from 'aws-cdk-lib/aws-apigateway';
import type { ErrorCode } from '../../functions/core/errors';

/** One API Gateway response rewritten into the contract's error shape (`docs/api.md`). */
export interface GatewayErrorResponse {
  readonly id: string;
  readonly type: ResponseType;
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * The errors API Gateway answers itself, mapped to the contract. Gateway response templates
 * only substitute variables (no VTL), so each type gets a fixed code and sentence. The
 * authorizer answers `UNAUTHORIZED` for a missing, invalid or expired token, an ID token
 * or a token without the scope; `ACCESS_DENIED` is folded into the same `401`, as the
 * contract has one answer for every token problem. An unknown path or method is
 * `MISSING_AUTHENTICATION_TOKEN` at API Gateway, `404 not_found` in the contract.
 */
export const gatewayErrorResponses: readonly GatewayErrorResponse[] = [
  {
    id: 'Unauthorized',
    type: ResponseType.UNAUTHORIZED,
    status: 401,
    code: 'unauthorized',
    message: 'A valid access token is required.',
  },
  {
    id: 'AccessDenied',
    type: ResponseType.ACCESS_DENIED,
    status: 401,
    code: 'unauthorized',
    message: 'A valid access token is required.',
  },
  {
    id: 'ExpiredToken',
    type: ResponseType.EXPIRED_TOKEN,
    status: 401,
    code: 'unauthorized',
    message: 'A valid access token is required.',
  },
  {
    id: 'MissingAuthenticationToken',
    type: ResponseType.MISSING_AUTHENTICATION_TOKEN,
    status: 404,
    code: 'not_found',
    message: 'There is no such route.',
  },
  {
    id: 'ResourceNotFound',
    type: ResponseType.RESOURCE_NOT_FOUND,
    status: 404,
    code: 'not_found',
    message: 'There is no such route.',
  },
  {
    id: 'RequestTooLarge',
    type: ResponseType.REQUEST_TOO_LARGE,
    status: 413,
    code: 'payload_too_large',
    message: 'The request is too large.',
  },
  {
    id: 'Throttled',
    type: ResponseType.THROTTLED,
    status: 429,
    code: 'rate_limited',
    message: 'Too many requests; retry later.',
  },
  {
    id: 'QuotaExceeded',
    type: ResponseType.QUOTA_EXCEEDED,
    status: 429,
    code: 'rate_limited',
    message: 'Too many requests; retry later.',
  },
  {
    id: 'IntegrationTimeout',
    type: ResponseType.INTEGRATION_TIMEOUT,
    status: 504,
    code: 'upstream_timeout',
    message: 'The request took too long; its state is kept and retrying is safe.',
  },
  {
    id: 'Default4xx',
    type: ResponseType.DEFAULT_4XX,
    status: 400,
    code: 'validation_failed',
    message: 'The request was not accepted.',
  },
  {
    id: 'Default5xx',
    type: ResponseType.DEFAULT_5XX,
    status: 500,
    code: 'internal_error',
    message: 'The request failed because of an internal error.',
  },
];

/** The body template: the contract's error shape, as JSON. */
export function errorTemplate(response: GatewayErrorResponse): string {
  return JSON.stringify({ error: { code: response.code, message: response.message, details: [] } });
}
