/**
 * What the bench counts and times, without touching the code it measures: an AWS SDK middleware
 * on a DynamoDB DocumentClient (requests, bytes written, items read), a wrapper of
 * `http2.connect` (the Scalekit SDK's gRPC calls, by method), a wrapper of `fetch` (model calls),
 * and a timeline of when each upstream was busy, so a turn's wall time can be split.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

// ─── Timeline ───────────────────────────────────────────────────────────────────────────────

/** The upstreams whose busy time is tracked. */
export type Upstream = 'dynamodb' | 'scalekit' | 'model';

/** Intervals during which each upstream had at least one request in flight (process-wide). */
export class Timeline {
  private readonly intervals: Record<Upstream, [number, number][]> = { dynamodb: [], scalekit: [], model: [] };

  /** Marks the start of a request; the returned function marks its end. */
  begin(upstream: Upstream): () => void {
    const start = performance.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.intervals[upstream].push([start, performance.now()]);
    };
  }

  /** Milliseconds within [from, to] during which any of `upstreams` was busy (overlaps counted once). */
  busy(upstreams: readonly Upstream[], from: number, to: number): number {
    const clipped = upstreams
      .flatMap((upstream) => this.intervals[upstream])
      .filter(([start, end]) => end > from && start < to)
      .map(([start, end]): [number, number] => [Math.max(start, from), Math.min(end, to)])
      .sort((a, b) => a[0] - b[0]);
    let total = 0;
    let current: [number, number] | undefined;
    for (const interval of clipped) {
      if (current && interval[0] <= current[1]) {
        current[1] = Math.max(current[1], interval[1]);
      } else {
        if (current) total += current[1] - current[0];
        current = [...interval];
      }
    }
    if (current) total += current[1] - current[0];
    return total;
  }

  /** Forgets everything before now (between scenarios, to keep the lists short). */
  clear(): void {
    for (const list of Object.values(this.intervals)) list.length = 0;
  }
}

/** A window's wall time split by what the process was waiting on. */
export interface TimeSplit {
  readonly wallMs: number;
  readonly dynamodbMs: number;
  readonly scalekitMs: number;
  readonly modelMs: number;
  /** Wall time with no upstream in flight: our code, the gateway, JWT checks, HTTP. */
  readonly otherMs: number;
}

export function splitTime(timeline: Timeline, from: number, to: number): TimeSplit {
  return {
    wallMs: to - from,
    dynamodbMs: timeline.busy(['dynamodb'], from, to),
    scalekitMs: timeline.busy(['scalekit'], from, to),
    modelMs: timeline.busy(['model'], from, to),
    otherMs: to - from - timeline.busy(['dynamodb', 'scalekit', 'model'], from, to),
  };
}

// ─── DynamoDB ───────────────────────────────────────────────────────────────────────────────

const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'TransactWriteItems', 'BatchWriteItem']);

/** Counts of DynamoDB traffic since a meter was created (or between two snapshots). */
export interface DynamoTally {
  requests: number;
  reads: number;
  writes: number;
  /** Serialized request bodies of write operations (what DynamoDB is asked to store), in bytes. */
  bytesWritten: number;
  /** Items returned by reads (and `ALL_NEW` updates). */
  itemsRead: number;
  /** Size of the returned items as JSON (an approximation of the bytes read). */
  bytesRead: number;
  conditionFailures: number;
  byOperation: Record<string, number>;
  bytesWrittenByOperation: Record<string, number>;
}

const emptyTally = (): DynamoTally => ({
  requests: 0,
  reads: 0,
  writes: 0,
  bytesWritten: 0,
  itemsRead: 0,
  bytesRead: 0,
  conditionFailures: 0,
  byOperation: {},
  bytesWrittenByOperation: {},
});

export function diffTally(after: DynamoTally, before: DynamoTally): DynamoTally {
  return {
    requests: after.requests - before.requests,
    reads: after.reads - before.reads,
    writes: after.writes - before.writes,
    bytesWritten: after.bytesWritten - before.bytesWritten,
    itemsRead: after.itemsRead - before.itemsRead,
    bytesRead: after.bytesRead - before.bytesRead,
    conditionFailures: after.conditionFailures - before.conditionFailures,
    byOperation: diffCounts(after.byOperation, before.byOperation),
    bytesWrittenByOperation: diffCounts(after.bytesWrittenByOperation, before.bytesWrittenByOperation),
  };
}

interface SerializedRequest {
  headers: Record<string, string>;
  body?: unknown;
}

const isSerializedRequest = (value: unknown): value is SerializedRequest =>
  typeof value === 'object' && value !== null && typeof (value as { headers?: unknown }).headers === 'object';

const bodyBytes = (body: unknown): number =>
  typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body instanceof Uint8Array ? body.byteLength : 0;

/** What a read returned: items and their JSON size. */
function itemsOf(output: unknown): { items: number; bytes: number } {
  if (typeof output !== 'object' || output === null) return { items: 0, bytes: 0 };
  const record = output as Record<string, unknown>;
  const returned: unknown[] = [];
  if (Array.isArray(record.Items)) returned.push(...record.Items);
  if (record.Item) returned.push(record.Item);
  if (record.Attributes) returned.push(record.Attributes);
  if (record.Responses && typeof record.Responses === 'object') {
    for (const list of Object.values(record.Responses as Record<string, unknown>)) {
      if (Array.isArray(list)) returned.push(...list);
    }
  }
  return { items: returned.length, bytes: returned.length ? Buffer.byteLength(JSON.stringify(returned), 'utf8') : 0 };
}

/** A running count of one DocumentClient's requests. */
export class DynamoMeter {
  private readonly tally = emptyTally();

  /**
   * Adds the counting middleware to `client` (its stack is shared with the DynamoDBClient it
   * wraps). It sits in `finalizeRequest`, inside the retry middleware: every attempt is counted,
   * with the request exactly as serialized for the wire.
   */
  constructor(client: DynamoDBDocumentClient, timeline?: Timeline) {
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = isSerializedRequest(args.request) ? args.request : undefined;
        const target = request?.headers['x-amz-target'] ?? request?.headers['X-Amz-Target'] ?? '';
        const operation = target.split('.').at(-1) || 'unknown';
        const tally = this.tally;
        tally.requests++;
        tally.byOperation[operation] = (tally.byOperation[operation] ?? 0) + 1;
        if (WRITE_OPERATIONS.has(operation)) {
          const bytes = bodyBytes(request?.body);
          tally.writes++;
          tally.bytesWritten += bytes;
          tally.bytesWrittenByOperation[operation] = (tally.bytesWrittenByOperation[operation] ?? 0) + bytes;
        } else {
          tally.reads++;
        }
        const end = timeline?.begin('dynamodb');
        try {
          const result = await next(args);
          const read = itemsOf(result.output);
          tally.itemsRead += read.items;
          tally.bytesRead += read.bytes;
          return result;
        } catch (error) {
          if (error instanceof Error && /ConditionalCheckFailed|TransactionCanceled/.test(error.name)) tally.conditionFailures++;
          throw error;
        } finally {
          end?.();
        }
      },
      { step: 'finalizeRequest', name: 'onbehalfBenchCounter', override: true },
    );
  }

  snapshot(): DynamoTally {
    return {
      ...this.tally,
      byOperation: { ...this.tally.byOperation },
      bytesWrittenByOperation: { ...this.tally.bytesWrittenByOperation },
    };
  }
}

// ─── Scalekit (gRPC over HTTP/2) ────────────────────────────────────────────────────────────

/** gRPC calls made through `http2.connect` sessions, by authority and method. */
export class RpcMeter {
  private readonly counts = new Map<string, Map<string, number>>();

  constructor(private readonly timeline: Timeline) {}

  /** Wraps `http2.connect` process-wide: every client stream opened afterwards is counted and timed. */
  install(): void {
    const original = http2.connect;
    const meter = this;
    const patched = function (this: unknown, ...args: Parameters<typeof http2.connect>) {
      const session = original.apply(http2, args);
      const authority = String(args[0]).replace(/\/+$/, '');
      const request = session.request.bind(session);
      session.request = (headers, options) => {
        const stream = request(headers, options);
        const method =
          String(headers?.[':path'] ?? '?')
            .split('/')
            .at(-1) ?? '?';
        meter.count(authority, method);
        stream.once('close', meter.timeline.begin('scalekit'));
        return stream;
      };
      return session;
    } as typeof http2.connect;
    http2.connect = patched;
  }

  private count(authority: string, method: string): void {
    const methods = this.counts.get(authority) ?? new Map<string, number>();
    methods.set(method, (methods.get(method) ?? 0) + 1);
    this.counts.set(authority, methods);
  }

  /** Calls to `authority` (a base URL) so far, by gRPC method. */
  snapshot(authority: string): Record<string, number> {
    return Object.fromEntries(this.counts.get(authority.replace(/\/+$/, '')) ?? []);
  }
}

export function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [key, count] of Object.entries(after)) {
    const d = count - (before[key] ?? 0);
    if (d !== 0) delta[key] = d;
  }
  return delta;
}

export const sumCounts = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

// ─── Model calls (fetch) ────────────────────────────────────────────────────────────────────

/**
 * Wraps the global `fetch` so calls under `baseUrl()` are timed as model calls. The Anthropic SDK
 * takes `fetch` when its client is built (on the first chat request), so this must run first.
 */
export function timeModelCalls(timeline: Timeline, baseUrl: () => string | undefined): void {
  const original = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const base = baseUrl();
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!base || !url.startsWith(`${base}/v1/`)) return original(input, init);
    const end = timeline.begin('model');
    let response: Response;
    try {
      response = await original(input, init);
    } catch (error) {
      end();
      throw error;
    }
    // A JSON answer's latency is before its headers (the SDK reads the body afterwards); a
    // streamed one (a streamed run's model calls) spreads it over the body, so it ends with the body.
    if (!response.ok || !response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
      end();
      return response;
    }
    // The SDK reads `response.body` itself (never a clone), so the timed stream stands in for it.
    Object.defineProperty(response, 'body', { value: endingWith(response.body, end) });
    return response;
  };
}

/** `body` passed through unchanged, calling `end` once it is finished, failed or cancelled. */
function endingWith(body: ReadableStream<Uint8Array>, end: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          end();
          controller.close();
        } else {
          controller.enqueue(chunk.value);
        }
      } catch (error) {
        end();
        controller.error(error);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
}

// ─── CPU of DynamoDB Local ──────────────────────────────────────────────────────────────────

/**
 * CPU seconds used so far by this process's `java` children (DynamoDB Local, started by the
 * stack), from `/proc`; `undefined` where there is no `/proc` or no such child (`--reuse`).
 */
export function javaChildCpuSeconds(): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let ticks = 0;
  let found = false;
  for (const pid of entries) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the parenthesised command: state ppid … utime(14) stime(15), 1-based over the whole line.
    const close = stat.lastIndexOf(')');
    const command = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    if (command !== 'java' || Number(fields[1]) !== process.pid) continue;
    found = true;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  // USER_HZ is 100 on Linux.
  return found ? ticks / 100 : undefined;
}
