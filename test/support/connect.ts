import { inject } from 'vitest';
import { completeConsent } from '../../client/consent';
import { api, login } from './auth';

/** A loopback verify URL, as a native client would use (nothing needs to listen there). */
export const VERIFY_URL = 'http://127.0.0.1:9/callback';

/** The seeded person behind a username (Cognito and Asana share the password locally). */
export function person(username: string) {
  const found = inject('world').people.find((p) => p.username === username);
  if (!found) throw new Error(`no such person: ${username}`);
  return found;
}

/**
 * Starts a connection for `username` and walks the consent hops as that person's Asana
 * account; returns the link's verify parameters without calling verify.
 */
export async function consent(
  token: string,
  username: string,
  options: { scope?: 'read' | 'write'; asanaUser?: string } = {},
): Promise<{ authRequestId: string; state: string }> {
  const started = await api('POST', '/connections/asana', { token, body: { verifyUrl: VERIFY_URL } });
  if (started.status !== 200 || !started.body.authorizationUrl) {
    throw new Error(`connect did not give a link: ${started.status} ${JSON.stringify(started.body)}`);
  }
  const asanaPerson = person(options.asanaUser ?? username);
  const landing = await completeConsent(started.body.authorizationUrl, {
    email: asanaPerson.email,
    password: asanaPerson.password,
    scope: options.scope,
  });
  return { authRequestId: landing.searchParams.get('auth_request_id') ?? '', state: landing.searchParams.get('state') ?? '' };
}

/** Logs in and makes sure the user's Asana connection is ACTIVE; returns the access token. */
export async function connected(username: string, options: { scope?: 'read' | 'write' } = {}): Promise<string> {
  const { accessToken } = await login(username);
  const status = await api('POST', '/connections/asana', { token: accessToken, body: { verifyUrl: VERIFY_URL } });
  if (status.body.status === 'ACTIVE') return accessToken;
  const params = await consent(accessToken, username, options);
  const verified = await api('POST', '/connections/asana/verify', { token: accessToken, body: params });
  if (verified.status !== 200) throw new Error(`verify failed: ${verified.status} ${JSON.stringify(verified.body)}`);
  return accessToken;
}
