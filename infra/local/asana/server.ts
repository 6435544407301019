/**
 * The local Asana emulator (issue 3): Asana's REST API under `/api/1.0` for the 21 tools of
 * `functions/core/asana-tools.json`, Asana's OAuth 2 consent flow under `/oauth/…`, and the
 * test-only request log `GET /_control/requests`. How each tool maps to a request is in
 * `./tool-routes.ts` (as data) and `./README.md` (as a table).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, type LocalService, readBody, sendJson } from '../service';
import type { World } from '../world';
import { AsanaApi, AsanaApiError, type ApiResult, ERROR_HELP } from './api';
import { AsanaOAuth, type IssuedTokens, type OAuthClient } from './oauth';
import type { Json, JsonObject } from './present';
import { AsanaStore, type RequestLogEntry } from './store';

export type { IssuedTokens, OAuthClient } from './oauth';
export type { RequestLogEntry } from './store';

/** Options of {@link startAsana}. */
export interface AsanaOptions {
  readonly world: World;
  /** 0 or absent: an ephemeral port. */
  readonly port?: number;
  /** Where state persists across restarts (`.data/asana.json`); absent: memory only. */
  readonly stateFile?: string;
  /** Lifetime of access tokens; default 3600, as Asana's. */
  readonly accessTokenTtlSeconds?: number;
  /** The OAuth clients allowed to use the consent flow and token endpoint. */
  readonly oauthClients: readonly OAuthClient[];
}

/** A running Asana emulator, with in-process helpers for tests. */
export interface AsanaEmulator extends LocalService {
  /**
   * Tokens for any Asana user without the consent form, e.g. the `asanaOnly` admin, which has no
   * password. `scope`: `read`, `write` (default) or a space-separated scope list.
   */
  issueTokenFor(asanaGid: string, scope?: string): IssuedTokens;
  /** Expires every access token now (of one user when given); answers how many were live. */
  expireAccessTokens(asanaGid?: string): number;
  /** The request log, as `GET /_control/requests?since=` answers it. */
  requests(since?: number): RequestLogEntry[];
}

const API_PREFIX = '/api/1.0';

/** Starts the Asana emulator on `127.0.0.1:<port>`; restores `stateFile` when it was seeded from the same world. */
export async function startAsana(options: AsanaOptions): Promise<AsanaEmulator> {
  const store = new AsanaStore(options.world, options.stateFile);
  let baseUrl = '';
  const api = new AsanaApi(store, () => baseUrl);
  const oauth = new AsanaOAuth(store, options.oauthClients, options.accessTokenTtlSeconds ?? 3600);
  const requestsSince = (since = 0): RequestLogEntry[] => store.state.requests.filter((r) => r.seq > since);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://asana.local');
    const body = await readBody(req);
    if (url.pathname === API_PREFIX || url.pathname.startsWith(`${API_PREFIX}/`)) return callApi(req, res, url, body);
    if (await oauth.handle(req, res, url, body)) return;
    if (req.method === 'GET' && url.pathname === '/_control/requests') {
      const since = url.searchParams.get('since') ?? '0';
      if (!/^\d+$/.test(since)) return sendJson(res, 400, { error: 'since must be a non-negative integer' });
      return sendJson(res, 200, { requests: requestsSince(Number(since)) });
    }
    sendJson(res, 404, asanaErrors('Not Found'));
  }

  function callApi(req: IncomingMessage, res: ServerResponse, url: URL, body: string): void {
    const method = req.method ?? 'GET';
    const path = url.pathname.slice(API_PREFIX.length) || '/';
    const auth = oauth.authenticate(req.headers.authorization);
    let result: ApiResult;
    try {
      const match = api.match(method, path);
      if (!match) throw new AsanaApiError(404, 'No matching route for request');
      if (auth.kind !== 'ok')
        throw new AsanaApiError(401, auth.kind === 'expired' ? 'Not Authorized: the access token has expired' : 'Not Authorized');
      if (!auth.scopes.has(match.route.scope)) {
        throw new AsanaApiError(403, `Forbidden: the token does not have the scope this endpoint requires: ${match.route.scope}`);
      }
      const data = method === 'POST' || method === 'PUT' ? parseData(req, body) : {};
      result = match.route.handle({ viewer: auth.user, params: match.params, query: url.searchParams, data, path });
    } catch (error) {
      if (!(error instanceof AsanaApiError)) {
        console.error('asana emulator: unexpected error', error);
        result = { status: 500, body: asanaErrors('Server Error') };
      } else {
        result = { status: error.status, body: asanaErrors(error.message) };
      }
    }
    store.state.requests.push({
      seq: ++store.state.requestSeq,
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      asanaUserGid: auth.kind === 'ok' ? auth.user.gid : null,
      status: result.status,
    });
    store.save();
    sendJson(res, result.status, result.body);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('asana emulator: request failed', error);
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, asanaErrors('Server Error'));
    });
  });
  const service = await listen(server, { port: options.port });
  baseUrl = service.url;
  return {
    url: service.url,
    close: () => service.close(),
    issueTokenFor: (asanaGid, scope) => oauth.issueTokenFor(asanaGid, scope),
    expireAccessTokens: (asanaGid) => oauth.expireAccessTokens(asanaGid),
    requests: requestsSince,
  };
}

function asanaErrors(message: string): JsonObject {
  return { errors: [{ message, help: ERROR_HELP }] };
}

/** The `data` of a JSON body `{ "data": { … } }`, or the fields of a form body, as Asana accepts both. */
function parseData(req: IncomingMessage, body: string): JsonObject {
  if (body.trim() === '') return {};
  if ((req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(body));
  }
  let value: Json;
  try {
    value = JSON.parse(body) as Json;
  } catch {
    throw new AsanaApiError(400, 'Could not parse request data, invalid JSON');
  }
  const data = isObject(value) ? value.data : undefined;
  if (!isObject(data)) throw new AsanaApiError(400, 'Request data must be a JSON object with a "data" object');
  return data;
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
