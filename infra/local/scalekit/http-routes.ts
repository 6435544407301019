import type { IncomingMessage, ServerResponse } from 'node:http';
import { Code, ConnectError } from '@connectrpc/connect';
import { z } from 'zod';
import { readBody, sendJson } from '../service';
import type { ConnectedAccounts, ConsentOutcome } from './accounts';
import type { ClientCredentials } from './client-credentials';
import { FAULT_CODES, RPC_NAMES, type RpcControl } from './rpc-control';
import { ACCOUNT_STATUSES, type ScalekitStore } from './store';
import type { ToolSettings } from './tool-service';

export interface HttpRouteDeps {
  accounts: ConnectedAccounts;
  store: ScalekitStore;
  credentials: ClientCredentials;
  settings: ToolSettings;
  control: RpcControl;
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function sendPage(res: ServerResponse, status: number, title: string, text: string): void {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
  });
  res.end(html);
}

function sendConsentOutcome(res: ServerResponse, outcome: ConsentOutcome): void {
  if (outcome.kind === 'redirect') {
    res.writeHead(302, { location: outcome.location, 'content-length': 0, 'cache-control': 'no-store' });
    res.end();
  } else {
    sendPage(res, outcome.status, outcome.title, outcome.text);
  }
}

const statusBody = z.strictObject({
  connection: z.string().min(1),
  identifier: z.string().min(1),
  status: z.enum(['EXPIRED', 'DISCONNECTED']),
});
const latencyBody = z.strictObject({ ms: z.number().int().min(0).max(600_000), toolName: z.string().min(1).optional() });
const seedStatus = z.enum(ACCOUNT_STATUSES);
const seedBody = z.union([
  z.strictObject({
    accounts: z
      .array(z.strictObject({ identifier: z.string().min(1), connection: z.string().min(1).optional(), status: seedStatus.optional() }))
      .max(1_000_000),
  }),
  z.strictObject({
    count: z.number().int().min(1).max(1_000_000),
    identifierPrefix: z.string().min(1).default('seed-'),
    connection: z.string().min(1).optional(),
    status: seedStatus.optional(),
  }),
]);
const faultBody = z.strictObject({
  rpc: z.string().refine((rpc) => RPC_NAMES.includes(rpc), { message: `must be one of ${RPC_NAMES.join(', ')}` }),
  code: z
    .string()
    .refine((code) => FAULT_CODES.has(code), { message: `must be a gRPC status name: ${[...FAULT_CODES.keys()].join(', ')}` }),
  times: z.number().int().min(0).max(1_000_000),
  afterExecuting: z.boolean().default(false),
});
const accountBody = z.strictObject({ connection: z.string().min(1), identifier: z.string().min(1) });

class BadRequest extends Error {}

/** The `since` of a log query: optional, default 0. */
function sinceOf(url: URL): number {
  const since = Number(url.searchParams.get('since') ?? '0');
  if (!Number.isInteger(since) || since < 0) throw new BadRequest('since must be a non-negative integer');
  return since;
}

async function jsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  let value: unknown;
  try {
    value = JSON.parse(await readBody(req));
  } catch {
    throw new BadRequest('body must be JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BadRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
  return parsed.data;
}

/**
 * The HTTP/1.1 side of the emulator: the SDK's `POST /oauth/token`, the consent hops of an
 * authorization link (every one a plain GET answered 302), and the test-only `_control/*` routes.
 */
export function httpRoutes(deps: HttpRouteDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { accounts, store, credentials, settings, control } = deps;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://scalekit.local');
    const method = req.method ?? 'GET';
    const path = url.pathname.replace(/\/+$/, '') || '/';

    if (method === 'POST' && path === '/oauth/token') {
      const form = new URLSearchParams(await readBody(req, 64 * 1024));
      let clientId = form.get('client_id');
      let clientSecret = form.get('client_secret');
      const basic = /^Basic (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (basic) {
        const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':');
        clientId ??= id ?? null;
        clientSecret ??= secret ?? null;
      }
      const issued = credentials.issue(form.get('grant_type'), clientId, clientSecret);
      if (!issued) {
        sendJson(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' });
        return;
      }
      sendJson(res, 200, { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope: '' });
      return;
    }

    const magicLink = /^\/magicLink\/([\w-]+)$/.exec(path);
    if (method === 'GET' && magicLink?.[1]) {
      sendConsentOutcome(res, accounts.openLink(magicLink[1]));
      return;
    }

    const callback = /^\/sso\/v1\/oauth\/([\w-]+)\/callback$/.exec(path);
    if (method === 'GET' && callback?.[1]) {
      sendConsentOutcome(res, await accounts.completeConsent(callback[1], url.searchParams));
      return;
    }

    if (method === 'GET' && path === '/connect/verified') {
      sendPage(res, 200, 'Connected', 'Your account is connected. You can close this window.');
      return;
    }

    if (method === 'POST' && path === '/_control/latency') {
      // `{ ms }` delays every tool execution; `{ ms, toolName }` that tool's only (0 removes it).
      const body = await jsonBody(req, latencyBody);
      if (body.toolName === undefined) {
        settings.latencyMs = body.ms;
        sendJson(res, 200, { ms: body.ms });
      } else {
        if (body.ms === 0) delete settings.toolLatencyMs[body.toolName];
        else settings.toolLatencyMs[body.toolName] = body.ms;
        sendJson(res, 200, { ms: body.ms, toolName: body.toolName });
      }
      return;
    }

    if (method === 'POST' && path === '/_control/connected-accounts/status') {
      const body = await jsonBody(req, statusBody);
      const account = store.accountByKey(body.connection, body.identifier);
      if (!account) {
        sendJson(res, 404, { error: 'connected account not found' });
        return;
      }
      accounts.setStatus(account, body.status);
      sendJson(res, 200, { id: account.id, connection: account.connectionName, identifier: account.identifier, status: account.status });
      return;
    }

    if (method === 'POST' && path === '/_control/connected-accounts/expire-token') {
      const body = await jsonBody(req, accountBody);
      const account = store.accountByKey(body.connection, body.identifier);
      if (!account) {
        sendJson(res, 404, { error: 'connected account not found' });
        return;
      }
      accounts.expireAccessToken(account);
      sendJson(res, 200, { id: account.id });
      return;
    }

    if (method === 'POST' && path === '/_control/connected-accounts/seed') {
      const body = await jsonBody(req, seedBody);
      const seeds =
        'accounts' in body
          ? body.accounts
          : Array.from({ length: body.count }, (_, i) => ({
              identifier: `${body.identifierPrefix}${i}`,
              ...(body.connection !== undefined && { connection: body.connection }),
              ...(body.status !== undefined && { status: body.status }),
            }));
      const seeded = accounts.seed(seeds);
      sendJson(res, 200, { seeded: seeded.length });
      return;
    }

    if (method === 'GET' && path === '/_control/executions') {
      sendJson(res, 200, { executions: store.executionsSince(sinceOf(url)) });
      return;
    }

    if (method === 'POST' && path === '/_control/faults') {
      sendJson(res, 200, control.setFault(await jsonBody(req, faultBody)));
      return;
    }

    if (method === 'GET' && path === '/_control/rpcs') {
      sendJson(res, 200, { rpcs: control.rpcsSince(sinceOf(url)) });
      return;
    }

    sendJson(res, 404, { error: 'not found' });
  }

  return (req, res) => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
      } else if (error instanceof BadRequest) {
        sendJson(res, 400, { error: error.message });
      } else if (error instanceof ConnectError) {
        // The account logic's own refusal (e.g. an unknown connection) on a control route.
        sendJson(res, error.code === Code.NotFound ? 404 : 400, { error: error.rawMessage });
      } else {
        // Name and message only: a request object could carry credentials.
        console.error('scalekit emulator: request failed', error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error');
        sendJson(res, 500, { error: 'internal error' });
      }
    });
  };
}
