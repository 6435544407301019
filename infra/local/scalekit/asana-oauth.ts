import { z } from 'zod';
import type { OAuthGrant } from './store';

/**
 * The scopes the local Asana connection asks for: what the 20 default tools need, plus
 * `tasks:delete` so a deployment that allows the delete tool works locally too. The user may grant
 * the read-only part instead (a local convenience).
 */
export const ASANA_REQUESTED_SCOPES = [
  'users:read',
  'workspaces:read',
  'workspaces.typeahead:read',
  'projects:read',
  'tasks:read',
  'stories:read',
  'tasks:write',
  'stories:write',
  'tasks:delete',
] as const;

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.number().positive(),
  scope: z.string().optional(),
  data: z.object({ gid: z.string() }).optional(),
});

/** Asana refused a code or a refresh token (it answered, but not with tokens). */
export class AsanaGrantRefusedError extends Error {
  override name = 'AsanaGrantRefusedError';
}

/** The OAuth client Scalekit registers at Asana: code exchange, refresh and revocation, at `<asanaUrl>/oauth/…`. */
export class AsanaOAuthClient {
  constructor(
    private readonly asanaUrl: string,
    private readonly client: { clientId: string; clientSecret: string },
  ) {}

  /** Where the browser is sent to consent. */
  authorizeUrl(redirectUri: string, state: string): string {
    const url = new URL(`${this.asanaUrl}/oauth/authorize`);
    url.searchParams.set('client_id', this.client.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('state', state);
    url.searchParams.set('scope', ASANA_REQUESTED_SCOPES.join(' '));
    return url.toString();
  }

  async exchangeCode(code: string, redirectUri: string): Promise<OAuthGrant> {
    const grant = await this.token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri });
    // Asana's token response may omit the scope; then the grant is taken to be what was asked for.
    return grant.scopes.length > 0 ? grant : { ...grant, scopes: [...ASANA_REQUESTED_SCOPES] };
  }

  /** A refreshed grant; Asana may keep the refresh token, so the old one is reused when none comes back. */
  async refresh(grant: OAuthGrant): Promise<OAuthGrant> {
    const refreshed = await this.token({ grant_type: 'refresh_token', refresh_token: grant.refreshToken });
    return {
      ...refreshed,
      refreshToken: refreshed.refreshToken || grant.refreshToken,
      providerUserId: refreshed.providerUserId || grant.providerUserId,
      scopes: refreshed.scopes.length > 0 ? refreshed.scopes : grant.scopes,
    };
  }

  /** Revokes the grant (by its refresh token). Best effort: a grant Asana no longer knows is already gone. */
  async revoke(grant: OAuthGrant): Promise<void> {
    await fetch(`${this.asanaUrl}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: grant.refreshToken,
        client_id: this.client.clientId,
        client_secret: this.client.clientSecret,
      }),
    });
  }

  private async token(params: Record<string, string>): Promise<OAuthGrant> {
    const response = await fetch(`${this.asanaUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ ...params, client_id: this.client.clientId, client_secret: this.client.clientSecret }),
    });
    const body: unknown = await response.json().catch(() => undefined);
    const parsed = tokenResponseSchema.safeParse(body);
    if (!response.ok || !parsed.success) {
      throw new AsanaGrantRefusedError(`Asana token endpoint answered ${response.status}`);
    }
    const token = parsed.data;
    return {
      accessToken: token.access_token,
      refreshToken: token.refresh_token ?? '',
      expiresAt: Date.now() + token.expires_in * 1000,
      scopes: token.scope !== undefined ? token.scope.split(/[\s,]+/).filter(Boolean) : [],
      providerUserId: token.data?.gid ?? '',
    };
  }
}
