/** What the console reads from `/config.json` (written by `npm start` locally, by the stack when deployed). */
export interface ConsoleConfig {
  /** The API's base URL, no trailing slash. */
  apiUrl: string;
  auth: {
    /** The user pool's issuer (`iss` of its tokens). */
    issuer: string;
    /** Base URL of the managed login: `/oauth2/authorize`, `/oauth2/token`, `/logout`. */
    domain: string;
    /** The console's public app client. */
    clientId: string;
    scope: string;
  };
}

const isString = (value: unknown): value is string => typeof value === 'string' && value !== '';

/** Loads and checks the console's configuration; a broken one stops the app with a plain message. */
export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`The console's configuration could not be loaded (HTTP ${response.status}).`);
  const raw = (await response.json()) as Partial<ConsoleConfig>;
  const auth = raw.auth;
  if (
    !isString(raw.apiUrl) ||
    !auth ||
    !isString(auth.issuer) ||
    !isString(auth.domain) ||
    !isString(auth.clientId) ||
    !isString(auth.scope)
  ) {
    throw new Error("The console's configuration is incomplete.");
  }
  return { apiUrl: raw.apiUrl.replace(/\/+$/, ''), auth: { ...auth, domain: auth.domain.replace(/\/+$/, '') } };
}
