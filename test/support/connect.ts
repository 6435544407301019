import { inject } from 'vitest';
import { consent as consentAs, ensureConnected } from '../stack/connect';
import { api, login } from './auth';

export { VERIFY_URL } from '../stack/connect';

/** The seeded person behind a username (Cognito and Asana share the password locally). */
export function person(username: string) {
  const found = inject('world').people.find((p) => p.username === username);
  if (!found) throw new Error(`no such person: ${username}`);
  return found;
}

const as = (token: string) => (method: string, path: string, body?: unknown) => api(method, path, { token, body });

/**
 * Starts a connection for `username` and walks the consent hops as that person's Asana
 * account; returns the link's verify parameters without calling verify.
 */
export function consent(
  token: string,
  username: string,
  options: { scope?: 'read' | 'write'; asanaUser?: string } = {},
): Promise<{ authRequestId: string; state: string }> {
  return consentAs(as(token), person(options.asanaUser ?? username), { scope: options.scope });
}

/** Logs in and makes sure the user's Asana connection is ACTIVE; returns the access token. */
export async function connected(username: string, options: { scope?: 'read' | 'write' } = {}): Promise<string> {
  const { accessToken } = await login(username);
  await ensureConnected(as(accessToken), person(username), options);
  return accessToken;
}
