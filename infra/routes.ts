/**
 * THE route table of the HTTPS API (`API.md`). Read by the CDK api stack (one API Gateway
 * method per row, each behind the Cognito authorizer with `scope`) and by the local gateway.
 */
export type FunctionName = 'connect' | 'verify' | 'chat';

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

export interface Route {
  readonly method: HttpMethod;
  /** API Gateway resource path, with `{param}` segments. */
  readonly path: string;
  readonly function: FunctionName;
  /** The OAuth scope the Cognito authorizer requires: only access tokens carry it. */
  readonly scope: string;
}

export const USER_SCOPE = 'aws.cognito.signin.user.admin';

const route = (method: HttpMethod, path: string, fn: FunctionName): Route => ({
  method,
  path,
  function: fn,
  scope: USER_SCOPE,
});

export const routes: readonly Route[] = [
  route('GET', '/connections', 'connect'),
  route('POST', '/connections/{connection}', 'connect'),
  route('DELETE', '/connections/{connection}', 'connect'),
  route('POST', '/connections/{connection}/verify', 'verify'),
  route('POST', '/conversations', 'chat'),
  route('GET', '/conversations', 'chat'),
  route('GET', '/conversations/{id}', 'chat'),
  route('DELETE', '/conversations/{id}', 'chat'),
  route('POST', '/conversations/{id}/messages', 'chat'),
  route('POST', '/conversations/{id}/resume', 'chat'),
  route('POST', '/conversations/{id}/approvals', 'chat'),
];

/** Functions that are not behind a route: invoked by schedule (and locally by the gateway's `_control` route). */
export const scheduledFunctions = ['connection-status'] as const;

export interface RouteMatch {
  readonly route: Route;
  readonly pathParameters: Record<string, string>;
}

/** Finds the route for a concrete path. `methodAllowed` is false when the path exists under another method. */
export function matchRoute(method: string, path: string): { match: RouteMatch | undefined; pathExists: boolean } {
  const segments = path.split('/').filter(Boolean);
  let pathExists = false;
  for (const candidate of routes) {
    const parts = candidate.path.split('/').filter(Boolean);
    if (parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const seg = segments[i]!;
      if (part.startsWith('{') && part.endsWith('}')) {
        let decoded: string;
        try {
          decoded = decodeURIComponent(seg);
        } catch {
          ok = false;
          break;
        }
        params[part.slice(1, -1)] = decoded;
      } else if (part !== seg) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    pathExists = true;
    if (candidate.method === method) return { match: { route: candidate, pathParameters: params }, pathExists };
  }
  return { match: undefined, pathExists };
}
