import type { Writable } from 'node:stream';
import type { RunEvent, RunEvents } from '../core/chat';

/** A comment line goes out when nothing else did for this long (API Gateway drops a stream idle for 5 minutes; clients for less). */
export const KEEP_ALIVE_MS = 10_000;

/** Whether a request asks for Server-Sent Events (`Accept: text/event-stream`). */
export function wantsEventStream(headers: Record<string, string | undefined> | null | undefined): boolean {
  const accept = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'accept')?.[1] ?? '';
  return accept
    .split(',')
    .map((part) => part.split(';')[0]!.trim().toLowerCase())
    .includes('text/event-stream');
}

/**
 * A run's events as Server-Sent Events on a Lambda response stream. Nothing is written until the
 * first event (the run's `run`): what fails before it is still answered as JSON with its status.
 * A client that went away does not stop the run: later events are dropped, the run goes on.
 */
export class EventStreamWriter implements RunEvents {
  private out: Writable | undefined;
  private gone = false;
  private keepAlive: NodeJS.Timeout | undefined;
  private lastWrite = 0;

  constructor(
    private readonly responseStream: Writable,
    private readonly headers: Record<string, string>,
  ) {}

  /** Whether the `200` and its headers went out (the stream has started). */
  get opened(): boolean {
    return this.out !== undefined;
  }

  emit(event: RunEvent): void {
    this.open();
    this.write(`event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`);
  }

  /** Ends the stream (after `outcome` or `error`). */
  end(): void {
    clearInterval(this.keepAlive);
    if (!this.out || this.gone) return;
    try {
      this.out.end();
    } catch {
      this.gone = true;
    }
  }

  private open(): void {
    if (this.out) return;
    this.out = awslambda.HttpResponseStream.from(this.responseStream, {
      statusCode: 200,
      headers: { ...this.headers, 'Content-Type': 'text/event-stream; charset=utf-8' },
    });
    this.out.on('error', () => {
      this.gone = true;
    });
    this.out.on('close', () => {
      if (!this.out?.writableFinished) this.gone = true;
    });
    this.keepAlive = setInterval(() => {
      if (Date.now() - this.lastWrite >= KEEP_ALIVE_MS - 50) this.write(': keep-alive\n\n');
    }, KEEP_ALIVE_MS / 2);
    this.keepAlive.unref();
  }

  private write(text: string): void {
    this.lastWrite = Date.now();
    if (this.gone || !this.out || this.out.destroyed || this.out.writableEnded) return;
    try {
      this.out.write(text);
    } catch {
      this.gone = true;
    }
  }
}
