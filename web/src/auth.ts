import { type User, UserManager, WebStorageStateStore } from 'oidc-client-ts';
import type { ConsoleConfig } from './config';

/** Where the managed login sends the browser back with the authorization code. */
export const CALLBACK_PATH = '/auth/callback';

/**
 * Sign-in with Cognito managed login: authorization code with PKCE (S256), tokens kept in this
 * tab's session storage, renewed with the refresh token before the access token expires.
 */
export class Auth {
  readonly manager: UserManager;

  constructor(private readonly config: ConsoleConfig) {
    const origin = window.location.origin;
    this.manager = new UserManager({
      authority: config.auth.issuer,
      client_id: config.auth.clientId,
      redirect_uri: `${origin}${CALLBACK_PATH}`,
      post_logout_redirect_uri: `${origin}/`,
      response_type: 'code',
      scope: config.auth.scope,
      // The endpoints are known from the configuration: no discovery request is needed.
      metadata: {
        issuer: config.auth.issuer,
        authorization_endpoint: `${config.auth.domain}/oauth2/authorize`,
        token_endpoint: `${config.auth.domain}/oauth2/token`,
        end_session_endpoint: `${config.auth.domain}/logout`,
      },
      automaticSilentRenew: true,
      loadUserInfo: false,
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    });
  }

  async user(): Promise<User | null> {
    const user = await this.manager.getUser();
    if (user && !user.expired) return user;
    if (user?.refresh_token) {
      try {
        return await this.manager.signinSilent();
      } catch {
        await this.manager.removeUser();
      }
    }
    return null;
  }

  /** A valid access token, renewed with the refresh token when it has expired. */
  async accessToken(): Promise<string | null> {
    return (await this.user())?.access_token ?? null;
  }

  /** After a `401`: one renewal attempt; null when the session is over. */
  async renew(): Promise<string | null> {
    try {
      return (await this.manager.signinSilent())?.access_token ?? null;
    } catch {
      await this.manager.removeUser();
      return null;
    }
  }

  signIn(returnTo: string): Promise<void> {
    return this.manager.signinRedirect({ state: { returnTo } });
  }

  /** Completes the redirect back from the managed login; returns the page to show next. */
  async completeSignIn(): Promise<string> {
    const user = await this.manager.signinRedirectCallback();
    const state = user.state as { returnTo?: unknown } | undefined;
    const returnTo =
      typeof state?.returnTo === 'string' && state.returnTo.startsWith('/') && !state.returnTo.startsWith('//') ? state.returnTo : '/';
    return returnTo;
  }

  /** Forgets the tokens and ends the managed-login session (Cognito's `/logout`). */
  async signOut(): Promise<void> {
    await this.manager.removeUser();
    const url = new URL(`${this.config.auth.domain}/logout`);
    url.searchParams.set('client_id', this.config.auth.clientId);
    url.searchParams.set('logout_uri', `${window.location.origin}/`);
    window.location.assign(url.toString());
  }
}
