import { USER_SCOPE } from '../functions/http/scope';

/**
 * THE route table of the HTTPS API (`docs/api.md`). Read by the CDK api stack (one API Gateway
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

export { USER_SCOPE };

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
  route('GET', '/usage', 'chat'),
];

/**
 * A route answered without a token (`auth: 'none'`): the committed OpenAPI document, served as
 * a file by the local gateway and by a mock integration of API Gateway (no function runs).
 */
export interface OpenRoute {
  readonly method: 'GET';
  readonly path: string;
  readonly auth: 'none';
  /** The file served, relative to the project root. */
  readonly file: string;
}

/** The OpenAPI document of this contract, committed in the repository (`npm run openapi` writes it). */
export const OPENAPI_DOCUMENT = 'docs/openapi.json';

export const openRoutes: readonly OpenRoute[] = [{ method: 'GET', path: '/openapi.json', auth: 'none', file: OPENAPI_DOCUMENT }];

/** Functions that are not behind a route: invoked by schedule (and locally by the gateway's `_control` route). */
export const scheduledFunctions = ['connection-status'] as const;

export interface RouteMatch {
  readonly route: Route;
  readonly pathParameters: Record<string, string>;
}

/** The methods routed at a resource path (`/conversations/{id}`), in table order (open routes included). */
export function methodsAt(resourcePath: string): HttpMethod[] {
  return [...routes, ...openRoutes].filter((candidate) => candidate.path === resourcePath).map((candidate) => candidate.method);
}

/** The path parameters when a concrete path fits a resource path, else `undefined`. */
function paramsIfFits(resourcePath: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = resourcePath.split('/').filter(Boolean);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const seg = segments[i]!;
    if (part.startsWith('{') && part.endsWith('}')) {
      try {
        params[part.slice(1, -1)] = decodeURIComponent(seg);
      } catch {
        return undefined;
      }
    } else if (part !== seg) {
      return undefined;
    }
  }
  return params;
}

/** The resource path (`/conversations/{id}`) a concrete path belongs to, whatever the method. */
export function resourcePathOf(path: string): string | undefined {
  const segments = path.split('/').filter(Boolean);
  return [...routes, ...openRoutes].find((candidate) => paramsIfFits(candidate.path, segments) !== undefined)?.path;
}

/** Finds the route for a concrete path. `methodAllowed` is false when the path exists under another method. */
export function matchRoute(method: string, path: string): { match: RouteMatch | undefined; pathExists: boolean } {
  const segments = path.split('/').filter(Boolean);
  let pathExists = false;
  for (const candidate of routes) {
    const params = paramsIfFits(candidate.path, segments);
    if (!params) continue;
    pathExists = true;
    if (candidate.method === method) return { match: { route: candidate, pathParameters: params }, pathExists };
  }
  return { match: undefined, pathExists };
}
