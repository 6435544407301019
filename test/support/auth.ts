import { inject } from 'vitest';
import { type ApiCallOptions, callApi } from '../stack/http';
import { passwordLogin, type Tokens } from '../stack/login';

/** Logs a seeded user in through the local pool with `InitiateAuth`, exactly as a client does. */
export function login(username: string, options: { clientId?: string; password?: string } = {}): Promise<Tokens> {
  const stack = inject('stack');
  const user = stack.users.find((candidate) => candidate.username === username);
  return passwordLogin(stack.cognito, username, options.password ?? user?.password ?? '', options.clientId);
}

/** `fetch` against the API (the suite's, or the gateway at `apiUrl`) with a bearer token and a JSON body. */
export async function api(
  method: string,
  path: string,
  options: ApiCallOptions & { apiUrl?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  return callApi(options.apiUrl ?? inject('stack').apiUrl, method, path, options);
}
