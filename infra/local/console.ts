import { createServer } from 'node:http';
import { buildConsole, type ConsoleFile } from '../../web/build';
import { listen, type LocalService } from './service';

/** What the console reads from `/config.json`: the API and the managed login it signs in with. */
export interface ConsoleSettings {
  apiUrl: string;
  auth: { issuer: string; domain: string; clientId: string; scope: string };
}

/** The scopes the console asks the managed login for (the API requires the last one). */
export const CONSOLE_SCOPE = 'openid email profile aws.cognito.signin.user.admin';

/**
 * The security headers of every console response, locally and (as a CloudFront response headers
 * policy) deployed: scripts and styles only from the console's own origin, network calls only to
 * the API and the managed login, no framing, no referrer (the verify page's URL holds one-time values).
 */
export function consoleSecurityHeaders(settings: { apiUrl: string; loginDomain: string }): Record<string, string> {
  const api = new URL(settings.apiUrl).origin;
  const login = new URL(settings.loginDomain).origin;
  return {
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      `connect-src 'self' ${api} ${login}`,
      `form-action 'self' ${login}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "manifest-src 'self'",
    ].join('; '),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}

export interface LocalConsole extends LocalService {
  /** The console's settings, once the API and the pool are up (until then `/config.json` answers `503`). */
  configure(settings: ConsoleSettings): void;
}

/**
 * Serves the web console on its own origin, as CloudFront does when deployed: the build (made at
 * start with esbuild), `/config.json`, and `index.html` for every page path (the app routes itself).
 */
export async function startConsole(options: { port?: number } = {}): Promise<LocalConsole> {
  const files = new Map<string, ConsoleFile>((await buildConsole()).map((file) => [file.path, file]));
  const index = files.get('/index.html')!;
  let settings: ConsoleSettings | undefined;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://console');
    const headers = settings ? consoleSecurityHeaders({ apiUrl: settings.apiUrl, loginDomain: settings.auth.domain }) : {};
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...headers });
      res.end();
      return;
    }
    if (url.pathname === '/config.json') {
      const body = JSON.stringify(settings ?? { error: 'starting' });
      res.writeHead(settings ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const file = files.get(url.pathname) ?? (/\.[a-z0-9]+$/i.test(url.pathname) ? undefined : index);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end('Not found');
      return;
    }
    res.writeHead(200, {
      'content-type': file.contentType,
      'content-length': file.contents.byteLength,
      'cache-control': file === index ? 'no-cache' : 'public, max-age=31536000, immutable',
      ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : file.contents);
  });
  const service = await listen(server, { port: options.port });
  return {
    ...service,
    configure: (next) => {
      settings = next;
    },
  };
}
