import type { APIGatewayProxyEvent } from 'aws-lambda';
import type * as z from 'zod/mini';
import '../validation';
import { DomainError } from '../core/errors';

/** Bodies above this size are refused before parsing (`docs/api.md`: 64 KiB). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Turns zod issues into the contract's `details`: where and what, never the offending value. */
function detailsOf(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/**
 * Parses and validates a JSON body strictly. No body (or an empty one) is parsed as `{}` so
 * routes whose fields are all optional accept it.
 */
export function parseBody<T extends z.ZodMiniType>(event: APIGatewayProxyEvent, schema: T): z.infer<T> {
  const raw = event.body ? (event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body) : '';
  if (Buffer.byteLength(raw, 'utf8') > MAX_BODY_BYTES) {
    throw new DomainError('payload_too_large', 'The request body is larger than 64 KiB.');
  }
  let value: unknown = {};
  if (raw.trim() !== '') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new DomainError('malformed_json', 'The request body is not valid JSON.');
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new DomainError('validation_failed', 'The request body is invalid.', detailsOf(result.error));
  }
  return result.data;
}

/** Validates the known query parameters; unknown ones are ignored, as `docs/api.md` says. */
export function parseQuery<T extends z.ZodMiniType>(event: APIGatewayProxyEvent, schema: T): z.infer<T> {
  const result = schema.safeParse(event.queryStringParameters ?? {});
  if (!result.success) {
    throw new DomainError('validation_failed', 'A query parameter is invalid.', detailsOf(result.error));
  }
  return result.data;
}

/** A path parameter the route guarantees. */
export function pathParam(event: APIGatewayProxyEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (value === undefined) throw new DomainError('not_found', 'No such resource.');
  return value;
}
