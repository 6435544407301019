import { Writable } from 'node:stream';

/**
 * What the Lambda Node.js runtime gives a function beyond its module: the global `awslambda`
 * with `streamifyResponse` (marks a handler as streaming) and `HttpResponseStream.from` (puts the
 * HTTP status and headers in front of the body as a JSON prelude and 8 NUL bytes). The local
 * gateway installs it before any handler module is loaded, so the same handler code runs here
 * and in Lambda.
 */

/** The property the runtime sets on a streaming handler (the runtime's own symbol, so bundles agree). */
export const STREAMING_MARK = Symbol.for('aws.lambda.runtime.handler.streaming');
const STREAM_RESPONSE = 'response';

/** The content type that says "a metadata prelude comes first" (set by `HttpResponseStream.from`). */
export const PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER = Buffer.alloc(8);

/** The metadata a streamed HTTP response starts with. */
export interface ResponsePrelude {
  statusCode?: number;
  headers?: Record<string, string>;
  cookies?: string[];
}

type BeforeFirstWrite = (write: (chunk: string | Uint8Array) => void) => void;

/**
 * The stream a streaming handler writes to, shaped like the runtime's: a Writable with
 * `setContentType` (only before the first write) and a hook run just before the first `write()`.
 * As in the runtime, only `write()` runs that hook: `end(chunk)` without a `write()` first sends
 * no prelude, and the gateway then answers as for a malformed response.
 */
export class LocalResponseStream extends Writable {
  contentType = 'application/octet-stream';
  _onBeforeFirstWrite: BeforeFirstWrite | undefined;
  private written = false;

  constructor(private readonly sink: (chunk: Buffer, done: (error?: Error | null) => void) => void) {
    super();
  }

  setContentType(contentType: string): void {
    if (this.written) throw new Error('Cannot set content-type, too late.');
    this.contentType = contentType;
  }

  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    if (!this.written) {
      this.written = true;
      this._onBeforeFirstWrite?.((first) => super.write(first));
    }
    const data = typeof chunk === 'string' || chunk instanceof Uint8Array ? chunk : JSON.stringify(chunk);
    return super.write(data, encoding as BufferEncoding, callback as (error?: Error | null) => void);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sink(chunk, callback);
  }
}

const streamifyResponse = <T extends (...args: never[]) => unknown>(handler: T): T => {
  Object.defineProperty(handler, STREAMING_MARK, { value: STREAM_RESPONSE, configurable: true });
  return handler;
};

/** `awslambda.HttpResponseStream.from`: the prelude goes out just before the first write. */
function httpResponseStreamFrom(stream: LocalResponseStream, prelude: ResponsePrelude): LocalResponseStream {
  stream.setContentType(PRELUDE_CONTENT_TYPE);
  // JSON never holds a NUL byte, so the first 8 NULs end the prelude.
  const metadata = JSON.stringify(prelude);
  stream._onBeforeFirstWrite = (write) => {
    write(metadata);
    write(DELIMITER);
  };
  return stream;
}

/**
 * Installs what the runtime provides on `globalThis.awslambda`, keeping what is there (the real
 * runtime's own; or the AWS SDK's invoke store, which creates `awslambda` as an empty object when
 * it loads first).
 */
export function installLambdaRuntimeGlobals(): void {
  const global = globalThis as { awslambda?: Record<string, unknown> };
  const runtime = (global.awslambda ??= {});
  runtime.streamifyResponse ??= streamifyResponse;
  runtime.HttpResponseStream ??= { from: httpResponseStreamFrom };
}

/** Whether the runtime would invoke this handler in streaming mode. */
export function isStreamingHandler(handler: unknown): boolean {
  return typeof handler === 'function' && (handler as unknown as Record<symbol, unknown>)[STREAMING_MARK] === STREAM_RESPONSE;
}

/**
 * Reads the response of a streaming handler as API Gateway does: with the prelude content type,
 * everything up to the first 8 NUL bytes is the JSON metadata and the rest is the body. `onHead`
 * is called once with the status and headers, then `onBody` with each piece of the body.
 */
export class PreludeDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private head: ResponsePrelude | undefined;

  /** `contentType`: the stream's at its first write; without the prelude type the whole output is a `200` body of that type. */
  constructor(
    contentType: string,
    private readonly onHead: (prelude: ResponsePrelude) => void,
    private readonly onBody: (chunk: Buffer) => void,
  ) {
    if (contentType !== PRELUDE_CONTENT_TYPE) this.open({ statusCode: 200, headers: { 'content-type': contentType } });
  }

  push(chunk: Buffer): void {
    if (this.head) {
      if (chunk.length > 0) this.onBody(chunk);
      return;
    }
    this.pending = Buffer.concat([this.pending, chunk]);
    const end = this.pending.indexOf(DELIMITER);
    if (end < 0) return;
    let prelude: ResponsePrelude;
    try {
      prelude = JSON.parse(this.pending.subarray(0, end).toString('utf8')) as ResponsePrelude;
    } catch {
      throw new Error('the response prelude is not JSON');
    }
    if (prelude === null || typeof prelude !== 'object') throw new Error('the response prelude is not an object');
    const rest = this.pending.subarray(end + DELIMITER.length);
    this.pending = Buffer.alloc(0);
    this.open(prelude);
    if (rest.length > 0) this.onBody(rest);
  }

  /** The stream ended: a prelude that never finished is a malformed response. */
  finish(): void {
    if (!this.head) throw new Error('the response ended before its prelude did (was the body sent with end() and no write()?)');
  }

  private open(prelude: ResponsePrelude): void {
    this.head = prelude;
    this.onHead(prelude);
  }
}
