/** Linking a user's Asana account through the real consent flow, as a client does (tests and bench). */
import { completeConsent } from '../../client/consent';

/** A loopback verify URL, as a native client uses (nothing needs to listen there). */
export const VERIFY_URL = 'http://127.0.0.1:9/callback';

/** Calls the API as one signed-in user. */
export type CallAs = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: unknown }>;

/** Whose Asana account to consent as (locally a person's Asana password is their Cognito password). */
export interface AsanaLogin {
  readonly email: string;
  readonly password: string;
}

const field = (body: unknown, key: string): unknown =>
  typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined;

/**
 * Starts a connection and walks the consent hops as `asanaUser`; returns the link's verify
 * parameters without calling verify.
 */
export async function consent(
  call: CallAs,
  asanaUser: AsanaLogin,
  options: { scope?: 'read' | 'write' } = {},
): Promise<{ authRequestId: string; state: string }> {
  const started = await call('POST', '/connections/asana', { verifyUrl: VERIFY_URL });
  const link = field(started.body, 'authorizationUrl');
  if (started.status !== 200 || typeof link !== 'string') {
    throw new Error(`connect did not give a link: ${started.status} ${JSON.stringify(started.body)}`);
  }
  const landing = await completeConsent(link, { email: asanaUser.email, password: asanaUser.password, scope: options.scope });
  return { authRequestId: landing.searchParams.get('auth_request_id') ?? '', state: landing.searchParams.get('state') ?? '' };
}

/** Makes sure the caller's Asana connection is ACTIVE, consenting as `asanaUser` when it is not. */
export async function ensureConnected(call: CallAs, asanaUser: AsanaLogin, options: { scope?: 'read' | 'write' } = {}): Promise<void> {
  const status = await call('POST', '/connections/asana', { verifyUrl: VERIFY_URL });
  if (field(status.body, 'status') === 'ACTIVE') return;
  const verified = await call('POST', '/connections/asana/verify', await consent(call, asanaUser, options));
  if (verified.status !== 200) throw new Error(`verify failed: ${verified.status} ${JSON.stringify(verified.body)}`);
}
