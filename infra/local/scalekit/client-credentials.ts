import { randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_TTL_SECONDS = 3600;

const sameSecret = (a: string, b: string): boolean => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

/**
 * The environment's M2M credentials: `POST /oauth/token` with `grant_type=client_credentials` issues
 * opaque bearer tokens that every RPC must carry (the SDK fetches one only after an `Unauthenticated`).
 */
export class ClientCredentials {
  private readonly tokens = new Map<string, number>();

  constructor(private readonly client: { clientId: string; clientSecret: string }) {}

  /** A new access token for valid credentials, or `undefined`. */
  issue(grantType: string | null, clientId: string | null, clientSecret: string | null): { token: string; expiresIn: number } | undefined {
    if (grantType !== 'client_credentials') return undefined;
    if (clientId !== this.client.clientId || clientSecret === null || !sameSecret(clientSecret, this.client.clientSecret)) return undefined;
    const token = `skat_${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, Date.now() + TOKEN_TTL_SECONDS * 1000);
    return { token, expiresIn: TOKEN_TTL_SECONDS };
  }

  /** Whether an `authorization` header carries a live token of this environment. */
  accepts(authorization: string | null): boolean {
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return false;
    const expiresAt = this.tokens.get(token);
    if (expiresAt === undefined) return false;
    if (expiresAt > Date.now()) return true;
    this.tokens.delete(token);
    return false;
  }
}
