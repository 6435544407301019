/** Signing in to the local pool as a client does (tests and bench). */
import { CognitoIdentityProviderClient, InitiateAuthCommand } from '@aws-sdk/client-cognito-identity-provider';
import type { StackFacts } from '../../infra/local/stack';

export interface Tokens {
  accessToken: string;
  idToken: string;
  refreshToken: string;
}

/** `InitiateAuth` `USER_PASSWORD_AUTH` against the local pool, exactly as a client logs in. */
export async function passwordLogin(
  cognito: StackFacts['cognito'],
  username: string,
  password: string,
  clientId = cognito.clientId,
): Promise<Tokens> {
  const client = new CognitoIdentityProviderClient({
    endpoint: cognito.endpoint,
    region: cognito.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const result = await client.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: clientId,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
    );
    const auth = result.AuthenticationResult;
    if (!auth?.AccessToken || !auth.IdToken || !auth.RefreshToken) throw new Error(`no tokens for ${username}`);
    return { accessToken: auth.AccessToken, idToken: auth.IdToken, refreshToken: auth.RefreshToken };
  } finally {
    client.destroy();
  }
}

/** The `sub` claim of a token we were just issued (read, not verified: the API verifies it). */
export function subOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
  if (typeof payload.sub !== 'string') throw new Error('token without sub');
  return payload.sub;
}
