import { CognitoIdentityProviderClient, GetUserCommand } from '@aws-sdk/client-cognito-identity-provider';
import { UpstreamError } from '../core/errors';
import type { UserDirectory } from '../core/ports';

/** Exceptions by which Cognito refuses the token or knows no such user: the caller's email cannot be read. */
const REFUSED = new Set(['NotAuthorizedException', 'UserNotFoundException', 'PasswordResetRequiredException', 'UserNotConfirmedException']);

/**
 * The user pool read as the caller: Cognito `GetUser` with the caller's own access token (it
 * needs no IAM permission; the token's `aws.cognito.signin.user.admin` scope authorizes it). Only
 * the `email` attribute is kept; the token is never logged.
 */
export class CognitoUserDirectory implements UserDirectory {
  constructor(private readonly client: CognitoIdentityProviderClient) {}

  static create(options: { region: string; endpoint?: string }): CognitoUserDirectory {
    return new CognitoUserDirectory(
      new CognitoIdentityProviderClient({ region: options.region, endpoint: options.endpoint, maxAttempts: 2 }),
    );
  }

  async emailOf(accessToken: string): Promise<string | undefined> {
    try {
      const user = await this.client.send(new GetUserCommand({ AccessToken: accessToken }), {
        abortSignal: AbortSignal.timeout(3000),
      });
      const email = user.UserAttributes?.find((attribute) => attribute.Name === 'email')?.Value;
      return email === undefined || email === '' ? undefined : email;
    } catch (error) {
      if (error instanceof Error && REFUSED.has(error.name)) return undefined;
      if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
        throw new UpstreamError('timeout', 'cognito', 'The user pool did not answer in time. Retrying is safe.');
      }
      throw new UpstreamError('unavailable', 'cognito', 'The user pool could not be reached. Retrying is safe.');
    }
  }
}
