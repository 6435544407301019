import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { JwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';
import { FetchJwksFetcher } from '../../functions/http/identity';
import { edgeHeaders, preflightHeaders } from '../../functions/http/headers';
import { errorBody } from '../../functions/http/response';
import { type FunctionName, matchRoute, methodsAt, openRoutes, resourcePathOf } from '../routes';
import {
  installLambdaRuntimeGlobals,
  isStreamingHandler,
  LocalResponseStream,
  PreludeDecoder,
  type ResponsePrelude,
} from './lambda-runtime';
import { listen, type LocalService, readBody } from './service';

// Handler modules call `awslambda.streamifyResponse` when they load: the global must exist first,
// as it does in the Lambda runtime. Importing the gateway provides it.
installLambdaRuntimeGlobals();

/** A Lambda proxy handler as the functions export it. */
export type ProxyHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** A handler wrapped with `awslambda.streamifyResponse`: it writes its answer to `responseStream`. */
export type StreamingProxyHandler = (
  event: APIGatewayProxyEvent,
  responseStream: awslambda.HttpResponseStream,
  context: Context,
) => Promise<void> | void;

/** API Gateway's limit for an integration whose answer is buffered. */
export const API_GATEWAY_TIMEOUT_MS = 29_000;

export interface GatewayOptions {
  port?: number;
  /**
   * The functions behind the routes; a route whose function is missing answers `501 not_implemented`.
   * A handler marked by `awslambda.streamifyResponse` is invoked in streaming mode.
   */
  handlers: Partial<Record<FunctionName, ProxyHandler | StreamingProxyHandler>>;
  /**
   * How long a buffered request may take before the gateway answers `504 upstream_timeout`
   * (default 29 s, API Gateway's limit; tests make it short). Every request is buffered except one
   * that asks for `text/event-stream` of a streaming handler: JSON answers are held to the limit
   * whatever the function, so the JSON time budget is proven against it.
   */
  bufferedTimeoutMs?: number;
  /** Each function's timeout, for `context.getRemainingTimeInMillis()` (default 30 s; 900 s for a streaming handler). */
  functionTimeoutMs?: Partial<Record<FunctionName, number>>;
  /** The Cognito authorizer: the pool's issuer (its JWKS is `<issuer>/.well-known/jwks.json`). */
  issuer: string;
  /** Local-only `_control` routes: `POST /_control/run/<name>` runs the scheduled function once. */
  scheduled?: Record<string, () => Promise<unknown>>;
  /**
   * The web console's origin. With it, the gateway's own answers carry its CORS headers and
   * `OPTIONS` on a route path answers the preflight (`204`, no token); without it `OPTIONS` is
   * an unknown method, as in a deployment without a console.
   */
  webOrigin?: string;
}

/** API Gateway refuses payloads over 10 MB before any function runs. */
const GATEWAY_MAX_BODY = 10 * 1024 * 1024;

const INTERNAL_ERROR_MESSAGE = 'The request failed because of an internal error.';
const TIMEOUT_MESSAGE = 'The request took longer than the API allows; its work may still finish, and retrying is safe.';

class GatewayTimeout extends Error {}

/** Resolves with `work`, or rejects with {@link GatewayTimeout} after `ms`. */
function withinLimit<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new GatewayTimeout()), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** Whether the client asked for Server-Sent Events. */
const acceptsEventStream = (req: IncomingMessage) => /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(req.headers.accept ?? '');

const headersOf = (prelude: ResponsePrelude): Record<string, string | string[]> => {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(prelude.headers ?? {})) headers[name] = String(value);
  if (prelude.cookies?.length) headers['set-cookie'] = prelude.cookies;
  return headers;
};

/**
 * Invokes a streaming handler as the Lambda runtime does and decodes what it writes as API
 * Gateway does. `onHead` gets the status and headers once known, `onBody` each piece of the body
 * (the handler's next write waits for it: backpressure); the promise settles when the stream has
 * ended, or rejects when the invocation failed or the response was malformed.
 */
function invokeStreaming(
  handler: StreamingProxyHandler,
  event: APIGatewayProxyEvent,
  context: Context,
  sink: { onHead(prelude: ResponsePrelude): void; onBody(chunk: Buffer): Promise<void> | void },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      reject(error);
    };
    let decoder: PreludeDecoder | undefined;
    let body: Promise<void> | void;
    // The content type is fixed by the first write, so the decoder is made then.
    const decoderFor = (stream: LocalResponseStream) =>
      (decoder ??= new PreludeDecoder(stream.contentType, sink.onHead, (chunk) => {
        body = sink.onBody(chunk);
      }));
    const stream: LocalResponseStream = new LocalResponseStream((chunk, done) => {
      if (failed) return done();
      try {
        decoderFor(stream).push(chunk);
      } catch (error) {
        fail(error);
        return done();
      }
      const written = body;
      body = undefined;
      Promise.resolve(written).then(
        () => done(),
        () => done(),
      );
    });
    stream.once('finish', () => {
      try {
        decoderFor(stream).finish();
        resolve();
      } catch (error) {
        fail(error);
      }
    });
    let returned: Promise<void> | void;
    try {
      returned = handler(event, stream as unknown as awslambda.HttpResponseStream, context);
    } catch (error) {
      return fail(error);
    }
    Promise.resolve(returned).then(
      () => {
        // The runtime waits for the stream to end; a handler that returned without ending it would
        // hang until the function times out. Here it fails at once, so the bug shows.
        if (!stream.writableEnded) fail(new Error('the handler returned before ending its response stream'));
      },
      (error: unknown) => fail(error),
    );
  });
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The local stack's default verify URL: where the browser lands after consent when the client
 * named no `verifyUrl`. It shows the two values the client must send to `verify`.
 */
function sendVerifiedPage(res: ServerResponse, url: URL, headers: Record<string, string>): void {
  const authRequestId = escapeHtml(url.searchParams.get('auth_request_id') ?? '');
  const state = escapeHtml(url.searchParams.get('state') ?? '');
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...headers });
  res.end(
    `<!doctype html><title>Finish connecting</title><h1>Almost done</h1>` +
      `<p>Send these to <code>POST /connections/{connection}/verify</code> with your access token:</p>` +
      `<pre>{"authRequestId": "${authRequestId}", "state": "${state}"}</pre>`,
  );
}

/** Flattens a token payload into `requestContext.authorizer.claims` as API Gateway does (strings). */
function claimsOf(payload: JwtPayload): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload)) {
    claims[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return claims;
}

/**
 * The API Gateway REST emulation for one machine: routes from `infra/routes.ts`, unknown paths
 * and methods → `404` before any token check (as API Gateway's `MISSING_AUTHENTICATION_TOKEN`
 * response, customised), then the Cognito authorizer with the route's scope → `401`, then the
 * function invoked in-process with a v1 proxy event.
 */
export async function startGateway(options: GatewayOptions): Promise<LocalService> {
  // Like API Gateway's gateway responses: every answer the gateway itself gives carries the
  // edge headers (a function's answer carries its own).
  const ownHeaders = edgeHeaders(options.webOrigin);
  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID(), ...ownHeaders, ...headers });
    res.end(body);
  };
  const sendError = (res: ServerResponse, status: number, code: Parameters<typeof errorBody>[0], message: string): void => {
    send(res, status, JSON.stringify(errorBody(code, message)), status === 401 ? { 'www-authenticate': 'Bearer' } : {});
  };

  // The authorizer checks signature, issuer, expiry and scope — not the app client: like
  // API Gateway with authorization scopes, any client of the pool passes; the function re-checks.
  const authorizer = JwtVerifier.create(
    { issuer: options.issuer, jwksUri: `${options.issuer}/.well-known/jwks.json`, audience: null },
    { jwksCache: new SimpleJwksCache({ fetcher: new FetchJwksFetcher() }) },
  );

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const method = req.method ?? 'GET';

    if (url.pathname === '/_control/verified' && method === 'GET') {
      return sendVerifiedPage(res, url, ownHeaders);
    }
    if (url.pathname.startsWith('/_control/')) {
      const name = /^\/_control\/run\/([\w-]+)$/.exec(url.pathname)?.[1];
      const run = name ? options.scheduled?.[name] : undefined;
      if (method !== 'POST' || !run) return sendError(res, 404, 'not_found', 'No such route.');
      return send(res, 200, JSON.stringify(await run()));
    }

    if (method === 'OPTIONS' && options.webOrigin !== undefined) {
      // The CORS preflight: no token, the methods of that path (API Gateway's mock integration).
      const resource = resourcePathOf(url.pathname);
      if (resource !== undefined) {
        res.writeHead(204, { 'x-amzn-requestid': randomUUID(), ...preflightHeaders(options.webOrigin, methodsAt(resource)) });
        res.end();
        return;
      }
    }

    const open = openRoutes.find((route) => route.path === url.pathname);
    if (open) {
      // No token: the committed file, read on each request so a regenerated document is served at once.
      if (method !== open.method) return sendError(res, 404, 'not_found', 'No such route.');
      return send(res, 200, readFileSync(new URL(`../../${open.file}`, import.meta.url), 'utf8'));
    }

    const { match } = matchRoute(method, url.pathname);
    if (!match) return sendError(res, 404, 'not_found', 'No such route.');

    const authorization = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    let claims: Record<string, string>;
    try {
      if (!token) throw new Error('no token');
      const payload = await authorizer.verify(token);
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
      if (!scopes.includes(match.route.scope)) throw new Error('scope missing');
      claims = claimsOf(payload);
    } catch {
      return sendError(res, 401, 'unauthorized', 'A valid access token is required.');
    }

    const handler = options.handlers[match.route.function];
    if (!handler) return sendError(res, 501, 'not_implemented', 'This route is not implemented yet.');

    let body: string;
    try {
      body = await readBody(req, GATEWAY_MAX_BODY);
    } catch {
      return sendError(res, 413, 'payload_too_large', 'The request body is too large.');
    }

    const headers: Record<string, string> = {};
    const multiValueHeaders: Record<string, string[]> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      const value = req.rawHeaders[i + 1]!;
      headers[name] = value;
      (multiValueHeaders[name] ??= []).push(value);
    }
    const query: Record<string, string> = {};
    const multiQuery: Record<string, string[]> = {};
    for (const [key, value] of url.searchParams) {
      query[key] = value;
      (multiQuery[key] ??= []).push(value);
    }
    const requestId = randomUUID();
    const now = Date.now();
    const event: APIGatewayProxyEvent = {
      resource: match.route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders,
      queryStringParameters: url.searchParams.size ? query : null,
      multiValueQueryStringParameters: url.searchParams.size ? multiQuery : null,
      pathParameters: Object.keys(match.pathParameters).length ? match.pathParameters : null,
      stageVariables: null,
      body: body === '' ? null : body,
      isBase64Encoded: false,
      requestContext: {
        accountId: '000000000000',
        apiId: 'local',
        authorizer: { claims },
        httpMethod: method,
        identity: { sourceIp: req.socket.remoteAddress ?? '127.0.0.1' } as APIGatewayProxyEvent['requestContext']['identity'],
        path: url.pathname,
        protocol: 'HTTP/1.1',
        requestId,
        requestTimeEpoch: now,
        resourceId: 'local',
        resourcePath: match.route.path,
        stage: 'local',
      },
    };
    const streaming = isStreamingHandler(handler);
    const timeoutMs = options.functionTimeoutMs?.[match.route.function] ?? (streaming ? 900_000 : 30_000);
    const context = {
      awsRequestId: requestId,
      functionName: match.route.function,
      getRemainingTimeInMillis: () => Math.max(0, now + timeoutMs - Date.now()),
    } as Context;
    const bufferedTimeoutMs = options.bufferedTimeoutMs ?? API_GATEWAY_TIMEOUT_MS;

    if (!streaming) {
      let result: APIGatewayProxyResult;
      try {
        result = await withinLimit((handler as ProxyHandler)(event, context), bufferedTimeoutMs);
      } catch (error) {
        if (error instanceof GatewayTimeout) return sendError(res, 504, 'upstream_timeout', TIMEOUT_MESSAGE);
        // A failed invocation: the deployed DEFAULT_5XX response gives it the contract's 500 shape.
        return sendError(res, 500, 'internal_error', INTERNAL_ERROR_MESSAGE);
      }
      const responseHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(result.headers ?? {})) responseHeaders[name] = String(value);
      res.writeHead(result.statusCode, { 'x-amzn-requestid': requestId, ...responseHeaders });
      res.end(result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
      return;
    }

    if (!acceptsEventStream(req)) {
      // Buffered: the whole answer, or 504 at the limit (the function goes on, as behind API Gateway).
      let head: ResponsePrelude = {};
      const chunks: Buffer[] = [];
      try {
        await withinLimit(
          invokeStreaming(handler as StreamingProxyHandler, event, context, {
            onHead: (prelude) => {
              head = prelude;
            },
            onBody: (chunk) => {
              chunks.push(chunk);
            },
          }),
          bufferedTimeoutMs,
        );
      } catch (error) {
        if (error instanceof GatewayTimeout) return sendError(res, 504, 'upstream_timeout', TIMEOUT_MESSAGE);
        return sendError(res, 500, 'internal_error', INTERNAL_ERROR_MESSAGE);
      }
      res.writeHead(head.statusCode ?? 200, { 'x-amzn-requestid': requestId, ...headersOf(head) });
      res.end(Buffer.concat(chunks));
      return;
    }

    // Streamed: status and headers as soon as the prelude is complete, then each write as it
    // comes, with chunked transfer. A client that goes away does not stop the function: what it
    // writes afterwards is dropped.
    let gone = false;
    res.once('close', () => {
      gone = !res.writableFinished;
    });
    try {
      await invokeStreaming(handler as StreamingProxyHandler, event, context, {
        onHead: (prelude) => {
          if (gone) return;
          res.writeHead(prelude.statusCode ?? 200, { 'x-amzn-requestid': requestId, ...headersOf(prelude) });
          res.flushHeaders();
        },
        onBody: (chunk) => {
          if (gone || res.write(chunk)) return;
          return new Promise<void>((resume) => {
            const go = () => {
              res.off('drain', go);
              res.off('close', go);
              resume();
            };
            res.on('drain', go);
            res.on('close', go);
          });
        },
      });
    } catch {
      if (gone) return;
      // Before the head: the contract's 500. After it: the stream breaks off, as a failed stream does.
      if (!res.headersSent) return sendError(res, 500, 'internal_error', INTERNAL_ERROR_MESSAGE);
      res.destroy();
      return;
    }
    if (!gone) res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendError(res, 500, 'internal_error', INTERNAL_ERROR_MESSAGE);
      else res.destroy();
    });
  });
  return listen(server, { port: options.port });
}
