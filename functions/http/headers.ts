/**
 * The headers every answer of the API carries (`docs/api.md`, introduction), in one place: the
 * functions' JSON answers, their streamed answers and the local gateway's own answers all take
 * them from here, and the CDK API's gateway responses and preflights are built from the same
 * names and values.
 */

/** Never cached by a browser or proxy (answers hold a user's data); never content-sniffed. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
});

/** What a browser at the console origin may send (preflight `Access-Control-Allow-Headers`). */
export const CORS_ALLOW_HEADERS: readonly string[] = Object.freeze(['Authorization', 'Content-Type', 'Accept']);

/** What a browser at the console origin may read besides the simple headers (a `429`'s wait). */
export const CORS_EXPOSE_HEADERS: readonly string[] = Object.freeze(['Retry-After']);

/** How long a browser may reuse a preflight answer. */
export const CORS_MAX_AGE_SECONDS = 3600;

/**
 * The headers of every answer: {@link SECURITY_HEADERS}, plus, when the deployment has a web
 * console origin, that origin (never a wildcard, never the request's own `Origin` echoed back),
 * `Vary: Origin` and the exposed headers.
 */
export function edgeHeaders(webOrigin: string | undefined): Record<string, string> {
  if (webOrigin === undefined) return { ...SECURITY_HEADERS };
  return {
    ...SECURITY_HEADERS,
    'Access-Control-Allow-Origin': webOrigin,
    'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS.join(', '),
    Vary: 'Origin',
  };
}

/** The headers of a `204` answer to `OPTIONS` on a route path that allows `methods`. */
export function preflightHeaders(webOrigin: string, methods: readonly string[]): Record<string, string> {
  return {
    ...edgeHeaders(webOrigin),
    'Access-Control-Allow-Methods': [...methods, 'OPTIONS'].join(', '),
    'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS.join(', '),
    'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
  };
}

/**
 * Adds the edge headers to a function's answer. A header the answer already sets under the
 * same name (any case) is replaced, so there is exactly one of each.
 */
export function withEdgeHeaders<T extends { headers?: Record<string, boolean | number | string> | undefined }>(
  result: T,
  webOrigin: string | undefined,
): T {
  const edge = edgeHeaders(webOrigin);
  const names = new Set(Object.keys(edge).map((name) => name.toLowerCase()));
  const kept = Object.fromEntries(Object.entries(result.headers ?? {}).filter(([name]) => !names.has(name.toLowerCase())));
  return { ...result, headers: { ...kept, ...edge } };
}
