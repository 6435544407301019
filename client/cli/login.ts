import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AuthenticationResultType, ChallengeNameType, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { z } from 'zod';
import { CliError, ExitCode, networkReason } from './errors';
import type { Target } from './target';

/** Tokens are renewed this long before they expire, so a request never leaves with a dying token. */
const EXPIRY_MARGIN_MS = 60_000;

const cachedTokensSchema = z.object({
  apiUrl: z.string(),
  username: z.string(),
  clientId: z.string(),
  accessToken: z.string(),
  refreshToken: z.string(),
  /** Epoch milliseconds. */
  expiresAt: z.number(),
});
type CachedTokens = z.infer<typeof cachedTokensSchema>;

/** `ONBEHALF_CACHE_DIR`, or `~/.cache/onbehalf` (`$XDG_CACHE_HOME/onbehalf` when set). */
export function cacheDirOf(env: NodeJS.ProcessEnv): string {
  if (env.ONBEHALF_CACHE_DIR) return env.ONBEHALF_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'onbehalf');
}

/**
 * The user's Cognito session for one target: an access token from the cache while it is valid,
 * else refreshed with the cached refresh token (`REFRESH_TOKEN_AUTH`), else a password login
 * (`USER_PASSWORD_AUTH`). Tokens live in one file per API, pool client and user, mode 0600.
 */
export class Session {
  private tokens: CachedTokens | undefined;
  private client: CognitoIdentityProviderClient | undefined;
  /** How the current access token was obtained, to decide what a `401` should try next. */
  private source: 'cache' | 'refresh' | 'login' | undefined;

  constructor(
    private readonly target: Target,
    private readonly cacheDir: string,
  ) {}

  /** The file holding this target's tokens. */
  get cacheFile(): string {
    const { apiUrl, cognito, username } = this.target;
    const key = createHash('sha256')
      .update(JSON.stringify([apiUrl, cognito.endpoint ?? cognito.region, cognito.clientId, username]))
      .digest('hex')
      .slice(0, 16);
    return join(this.cacheDir, `${username.replace(/[^\w.-]/g, '_')}-${key}.json`);
  }

  /** A valid access token: cached, refreshed, or from a fresh login. */
  async accessToken(): Promise<string> {
    this.tokens ??= this.readCache();
    if (this.tokens && this.tokens.expiresAt - EXPIRY_MARGIN_MS > Date.now()) {
      this.source ??= 'cache';
      return this.tokens.accessToken;
    }
    return this.refreshOrLogin();
  }

  /**
   * A new access token after the API refused the current one (`401`): a cached token is
   * refreshed, a refreshed one replaced by a password login; a fresh login's refusal is final.
   */
  async rejected(): Promise<string> {
    if (this.source === 'login') {
      throw new CliError(
        'unauthorized',
        `The API at ${this.target.apiUrl} refused a freshly issued access token.`,
        ExitCode.auth,
        'Check that the app client (--user-pool-client-id) belongs to this API.',
      );
    }
    return this.source === 'refresh' ? this.login() : this.refreshOrLogin();
  }

  private async refreshOrLogin(): Promise<string> {
    if (this.tokens) {
      const refreshed = await this.refresh(this.tokens.refreshToken);
      if (refreshed) return refreshed;
    }
    return this.login();
  }

  /** A password login, whatever the cache holds. */
  async login(): Promise<string> {
    const result = await this.initiateAuth('USER_PASSWORD_AUTH', {
      USERNAME: this.target.username,
      PASSWORD: await this.target.password(),
    });
    if (!result.RefreshToken) throw new CliError('auth_failed', 'Cognito returned no refresh token.', ExitCode.auth);
    this.store(result, result.RefreshToken, 'login');
    return this.tokens!.accessToken;
  }

  /** Forgets the cached tokens; `true` when there were some. */
  logout(): boolean {
    const existed = this.readCache() !== undefined;
    rmSync(this.cacheFile, { force: true });
    this.tokens = undefined;
    this.source = undefined;
    return existed;
  }

  /** Releases the Cognito client's sockets. */
  close(): void {
    this.client?.destroy();
  }

  private async refresh(refreshToken: string): Promise<string | undefined> {
    let result: AuthenticationResultType;
    try {
      result = await this.initiateAuth('REFRESH_TOKEN_AUTH', { REFRESH_TOKEN: refreshToken });
    } catch (error) {
      // An expired or revoked refresh token: fall back to the password.
      if (error instanceof CliError && error.exitCode === ExitCode.auth) return undefined;
      throw error;
    }
    // Cognito rotates the refresh token only when the app client asks for it.
    this.store(result, result.RefreshToken ?? refreshToken, 'refresh');
    return this.tokens!.accessToken;
  }

  private async initiateAuth(
    flow: 'USER_PASSWORD_AUTH' | 'REFRESH_TOKEN_AUTH',
    parameters: Record<string, string>,
  ): Promise<AuthenticationResultType> {
    // Loaded only when a login is needed: a cached token answers most runs without the SDK.
    const { CognitoIdentityProviderClient, InitiateAuthCommand } = await import('@aws-sdk/client-cognito-identity-provider');
    const { cognito } = this.target;
    this.client ??= new CognitoIdentityProviderClient({
      region: cognito.region,
      ...(cognito.endpoint ? { endpoint: cognito.endpoint } : {}),
      maxAttempts: this.target.kind === 'local' ? 1 : 2,
    });
    let output;
    try {
      output = await this.client.send(new InitiateAuthCommand({ AuthFlow: flow, ClientId: cognito.clientId, AuthParameters: parameters }));
    } catch (error) {
      throw this.translate(error);
    }
    if (output.ChallengeName) throw unsupportedChallenge(output.ChallengeName);
    if (!output.AuthenticationResult?.AccessToken) throw new CliError('auth_failed', 'Cognito returned no access token.', ExitCode.auth);
    return output.AuthenticationResult;
  }

  private translate(error: unknown): CliError {
    const where = this.target.cognito.endpoint ?? `Cognito in ${this.target.cognito.region}`;
    const reason = networkReason(error);
    if (reason) return new CliError('unreachable', `Cannot reach ${where} (${reason}).`, ExitCode.unreachable, this.target.unreachableHint);
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    switch (name) {
      case 'NotAuthorizedException':
      case 'UserNotFoundException':
        return new CliError('auth_failed', `Cognito refused ${this.target.username}: ${message}`, ExitCode.auth);
      case 'PasswordResetRequiredException':
        return new CliError('auth_failed', `${this.target.username} must reset their password first.`, ExitCode.auth);
      case 'UserNotConfirmedException':
        return new CliError('auth_failed', `${this.target.username} is not confirmed yet.`, ExitCode.auth);
      case 'InvalidParameterException':
        return new CliError(
          'auth_failed',
          `Cognito refused the login: ${message}`,
          ExitCode.auth,
          'The app client must allow USER_PASSWORD_AUTH and have no client secret.',
        );
      case 'ResourceNotFoundException':
        return new CliError(
          'unknown_app_client',
          `Cognito does not know the app client ${this.target.cognito.clientId}: ${message}`,
          ExitCode.usage,
        );
      default:
        return new CliError('cognito_failed', `Cognito failed: ${name}: ${message}`, ExitCode.failed);
    }
  }

  private store(result: AuthenticationResultType, refreshToken: string, source: 'refresh' | 'login'): void {
    const accessToken = result.AccessToken!;
    const expiresAt = expiryOf(accessToken) ?? Date.now() + (result.ExpiresIn ?? 3600) * 1000;
    this.tokens = {
      apiUrl: this.target.apiUrl,
      username: this.target.username,
      clientId: this.target.cognito.clientId,
      accessToken,
      refreshToken,
      expiresAt,
    };
    this.source = source;
    mkdirSync(this.cacheDir, { recursive: true, mode: 0o700 });
    const tmp = `${this.cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.tokens)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.cacheFile);
  }

  private readCache(): CachedTokens | undefined {
    try {
      const parsed = cachedTokensSchema.safeParse(JSON.parse(readFileSync(this.cacheFile, 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}

/** The `exp` of a JWT in epoch milliseconds (read, not verified: only to know when to renew). */
function expiryOf(jwt: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as unknown;
    const exp = typeof payload === 'object' && payload !== null ? (payload as { exp?: unknown }).exp : undefined;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function unsupportedChallenge(challenge: ChallengeNameType | string): CliError {
  if (challenge === 'NEW_PASSWORD_REQUIRED') {
    return new CliError(
      'unsupported_challenge',
      'Cognito asks for a new password (NEW_PASSWORD_REQUIRED), which this CLI cannot set.',
      ExitCode.auth,
      'Sign in once where you can choose a new password (the web console), or have an admin set a permanent one, then try again.',
    );
  }
  if (/MFA|OTP/.test(challenge)) {
    return new CliError(
      'unsupported_challenge',
      `Cognito asks for multi-factor authentication (${challenge}), which this CLI does not support.`,
      ExitCode.auth,
      'Use the web console for this user, or a user without MFA.',
    );
  }
  return new CliError(
    'unsupported_challenge',
    `Cognito asks for a ${challenge} challenge, which this CLI does not support.`,
    ExitCode.auth,
  );
}
