import { inject } from 'vitest';
import { type ApiCallOptions, callApi } from '../stack/http';
import { passwordLogin, type Tokens } from '../stack/login';
import { committedContract } from '../stack/openapi';

/** Logs a seeded user in through the local pool with `InitiateAuth`, exactly as a client does. */
export function login(username: string, options: { clientId?: string; password?: string } = {}): Promise<Tokens> {
  const stack = inject('stack');
  const user = stack.users.find((candidate) => candidate.username === username);
  return passwordLogin(stack.cognito, username, options.password ?? user?.password ?? '', options.clientId);
}

/**
 * `fetch` against the API (the suite's, or the gateway at `apiUrl`) with a bearer token and a JSON
 * body. Every answer's body is checked against the committed OpenAPI document (its route and
 * status): an answer the document does not describe fails the test.
 */
export async function api(
  method: string,
  path: string,
  options: ApiCallOptions & { apiUrl?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const answer = await callApi(options.apiUrl ?? inject('stack').apiUrl, method, path, options);
  const problem = committedContract()(method, path, answer);
  if (problem !== undefined) throw new Error(problem);
  return answer;
}
