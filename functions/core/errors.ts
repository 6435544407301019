/** The error codes of the HTTP contract (`docs/api.md`), exactly. */
export type ErrorCode =
  | 'validation_failed'
  | 'malformed_json'
  | 'unauthorized'
  | 'verification_failed'
  | 'account_mismatch'
  | 'not_found'
  | 'unknown_connection'
  | 'conversation_busy'
  | 'approval_pending'
  | 'approval_mismatch'
  | 'resume_required'
  | 'payload_too_large'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'internal_error'
  | 'not_implemented'
  | 'upstream_failed'
  | 'upstream_unavailable'
  | 'upstream_timeout';

/**
 * A deliberate, client-facing failure. Its `message` reaches the client, so it never carries
 * secrets, tokens or upstream payloads. `extra` adds top-level fields (e.g. `conversationId`).
 */
export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: readonly unknown[] = [],
    readonly extra: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  /** The same error with more top-level fields (e.g. the conversation it happened in). */
  with(extra: Record<string, string>): DomainError {
    const copy = new DomainError(this.code, this.message, this.details, { ...this.extra, ...extra });
    copy.cause = this.cause;
    return copy;
  }
}

/** An upstream (Scalekit, Anthropic, Asana through Scalekit, Cognito) failed; state is kept and a retry is safe. */
export class UpstreamError extends DomainError {
  override name = 'UpstreamError';
  constructor(
    kind: 'failed' | 'unavailable' | 'timeout',
    readonly upstream: 'scalekit' | 'anthropic' | 'cognito',
    message: string,
  ) {
    super(`upstream_${kind}`, message);
  }
}
