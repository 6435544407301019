/** One HTTP call of the API as a client makes it (tests and bench). */

export interface ApiAnswer {
  readonly status: number;
  /** The parsed JSON body; the raw text when it is not JSON; `null` when empty. */
  readonly body: unknown;
  readonly headers: Headers;
}

export interface ApiCallOptions {
  /** A bearer token. */
  token?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is (for malformed bodies). */
  rawBody?: string;
  headers?: Record<string, string>;
}

/** `fetch` against the API at `apiUrl` with a bearer token and a JSON body. */
export async function callApi(apiUrl: string, method: string, path: string, options: ApiCallOptions = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${apiUrl}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? (JSON.parse(text) as unknown) : null;
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}
