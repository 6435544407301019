import { ApiError, SignedOut } from './api';
import type { Connection, RunStatus } from './api';

/** A connection's status in plain words. */
export const STATUS_WORDS: Record<Connection['status'], string> = {
  ACTIVE: 'Connected',
  PENDING_AUTH: 'Waiting for you to authorize',
  PENDING_VERIFICATION: 'Waiting to be verified',
  EXPIRED: 'Expired: connect again',
  DISCONNECTED: 'Disconnected: connect again',
  NOT_CONNECTED: 'Not connected',
};

export const RUN_STATUS_WORDS: Record<RunStatus, string> = {
  completed: 'Done',
  in_progress: 'Stopped part-way',
  awaiting_approval: 'Waiting for your approval',
  needs_authorization: 'Needs your connection',
};

/** A connection's name for people: `asana` → `Asana`. */
export const connectionLabel = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

const PLAIN: Record<string, string> = {
  verification_failed:
    'This link was not issued to you, or it has already been used or has expired. Start connecting again from the Connections page.',
  account_mismatch:
    'The Asana account you linked does not belong to the email you signed in with, so it was not connected. Connect again with your own account.',
  rate_limited: 'You are sending requests faster than allowed. Wait a moment and try again.',
  quota_exceeded: 'You have used your share of the assistant for today. It resets at midnight UTC.',
  conversation_busy: 'This conversation is busy with another request. Try again in a moment.',
  upstream_failed: 'A service behind the assistant failed. Nothing was lost; try again.',
  upstream_unavailable: 'A service behind the assistant is unavailable right now. Nothing was lost; try again in a moment.',
  upstream_timeout: 'A service behind the assistant took too long to answer. Nothing was lost; try again.',
  not_found: 'There is nothing here, or it is not yours.',
  internal_error: 'Something went wrong on our side. Try again.',
};

/** An error as a sentence a person can act on. */
export function plainError(error: unknown): string {
  if (error instanceof SignedOut) return 'Your session has ended. Sign in again.';
  if (error instanceof ApiError) return PLAIN[error.code] ?? error.message;
  if (error instanceof TypeError) return 'The service could not be reached. Check your connection and try again.';
  return error instanceof Error ? error.message : 'Something went wrong.';
}

/** sessionStorage keys that carry the consent flow across the trip to Asana and back. */
export const CONNECTING_KEY = 'onbehalf.connecting';
export const RETURN_KEY = 'onbehalf.returnTo';
