import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import { inject } from 'vitest';

/** Logs a seeded user in through the local pool with `InitiateAuth`, exactly as a client does. */
export async function login(
  username: string,
  options: { clientId?: string; password?: string } = {},
): Promise<{ accessToken: string; idToken: string; refreshToken: string }> {
  const stack = inject('stack');
  const user = stack.users.find((candidate) => candidate.username === username);
  const client = new CognitoIdentityProviderClient({
    endpoint: stack.cognito.endpoint,
    region: stack.cognito.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const result = await client.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: options.clientId ?? stack.cognito.clientId,
        AuthParameters: { USERNAME: username, PASSWORD: options.password ?? user?.password ?? '' },
      }),
    );
    const auth = result.AuthenticationResult;
    if (!auth?.AccessToken || !auth.IdToken || !auth.RefreshToken) throw new Error('no tokens');
    return { accessToken: auth.AccessToken, idToken: auth.IdToken, refreshToken: auth.RefreshToken };
  } finally {
    client.destroy();
  }
}

/** `fetch` against the API with a bearer token and a JSON body. */
export async function api(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string>; apiUrl?: string } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const stack = inject('stack');
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${options.apiUrl ?? stack.apiUrl}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep the raw text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
