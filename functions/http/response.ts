import type { APIGatewayProxyResult } from 'aws-lambda';
import { DomainError, type ErrorCode } from '../core/errors';
import { LimitError } from '../core/usage';

const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  malformed_json: 400,
  unauthorized: 401,
  verification_failed: 403,
  account_mismatch: 403,
  not_found: 404,
  unknown_connection: 404,
  conversation_busy: 409,
  approval_pending: 409,
  approval_mismatch: 409,
  resume_required: 409,
  payload_too_large: 413,
  rate_limited: 429,
  quota_exceeded: 429,
  internal_error: 500,
  not_implemented: 501,
  upstream_failed: 502,
  upstream_unavailable: 503,
  upstream_timeout: 504,
};

/** Every error code of the contract, as the OpenAPI document lists them. */
export const ERROR_CODES = Object.keys(STATUS) as [ErrorCode, ...ErrorCode[]];

const JSON_HEADERS = { 'content-type': 'application/json' };

/** The HTTP status of a contract error code. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

/** A JSON response. */
export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

/** `204 No Content`. */
export function noContent(): APIGatewayProxyResult {
  return { statusCode: 204, headers: {}, body: '' };
}

/** The contract's error body: `{ error: { code, message, details } }` plus any extra top-level fields. */
export function errorBody(code: ErrorCode, message: string, details: readonly unknown[] = [], extra: Record<string, string> = {}) {
  return { error: { code, message, details }, ...extra };
}

/**
 * Maps anything thrown to the contract. Only a {@link DomainError} says what went wrong;
 * anything else is a bug and becomes a bare `500 internal_error`.
 */
export function errorResponse(error: unknown): APIGatewayProxyResult {
  if (error instanceof LimitError) {
    const response = json(statusOf(error.code), errorBody(error.code, error.message, error.details, { ...error.extra }));
    return { ...response, headers: { ...response.headers, 'retry-after': String(error.retryAfterSeconds) } };
  }
  if (error instanceof DomainError) {
    return json(statusOf(error.code), errorBody(error.code, error.message, error.details, { ...error.extra }));
  }
  return json(500, errorBody('internal_error', 'The request failed because of an internal error.'));
}
