import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { z } from 'zod';
import { errorBodySchema } from './contract';
import { ApiError, CliError, ExitCode, networkReason } from './errors';
import type { Session } from './login';

/** An API answer: the body as the API sent it (for `--json`) and as the CLI reads it. */
export interface Answer<T> {
  readonly status: number;
  readonly raw: unknown;
  readonly body: T;
  /** Whether the answer came as Server-Sent Events (its progress was already handed out as events). */
  readonly streamed?: boolean;
}

/** An event of a streamed run other than `outcome` and `error`, with its data as JSON. */
export interface StreamEvent {
  readonly event: string;
  readonly data: unknown;
}

/**
 * The API over HTTP with the session's bearer token, as any client would call it. A `401`
 * renews the token once and retries; an error answer becomes an {@link ApiError} with the
 * contract's `code`, `message` and `details`; an unreachable API a `CliError` (exit 4).
 */
export class ApiClient {
  constructor(
    private readonly apiUrl: string,
    private readonly session: Session,
    private readonly unreachableHint: string,
  ) {}

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, schema: z.ZodType<T>, body?: unknown): Promise<Answer<T>> {
    return this.read(method, path, await this.authorized(method, path, body, 'application/json'), schema);
  }

  /**
   * A run route asked for Server-Sent Events. Each event before the last is handed to `onEvent`
   * as it arrives; the `outcome` event is the answer (read with `schema`), an `error` event an
   * {@link ApiError} naming the conversation. A JSON answer (an early failure, or an API that
   * does not stream) is read as {@link call} reads it.
   */
  async stream<T>(path: string, schema: z.ZodType<T>, body: unknown, onEvent: (event: StreamEvent) => void): Promise<Answer<T>> {
    const response = await this.authorized('POST', path, body, 'text/event-stream');
    const type = response.headers.get('content-type') ?? '';
    if (!response.ok || !type.toLowerCase().startsWith('text/event-stream') || !response.body) {
      return this.read('POST', path, response, schema);
    }
    let conversationId: string | undefined;
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (message) => events.push(message) });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const interrupted = (reason: string) =>
      new CliError(
        'stream_interrupted',
        `POST ${path}: the event stream ${reason} before the run's outcome.`,
        ExitCode.failed,
        conversationId ? continueHint(conversationId) : undefined,
      );
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw interrupted(`broke off (${networkReason(error) ?? (error instanceof Error ? error.message : String(error))})`);
        }
        if (chunk.done) throw interrupted('ended');
        parser.feed(chunk.value);
        for (const message of events.splice(0)) {
          const data = parseData(path, message);
          if (message.event === 'outcome' || message.event === 'error') {
            if (message.event === 'error') {
              const error = errorBodySchema.safeParse(data);
              if (!error.success) throw unreadable(path, 'error');
              const { code, message: text, details } = error.data.error;
              throw new ApiError(response.status, code, text, details ?? [], error.data.conversationId ?? conversationId);
            }
            const parsed = schema.safeParse(data);
            if (!parsed.success) throw unreadable(path, 'outcome');
            return { status: response.status, raw: data, body: parsed.data, streamed: true };
          }
          if (message.event === 'run' && typeof data === 'object' && data !== null && 'conversationId' in data) {
            if (typeof data.conversationId === 'string') conversationId = data.conversationId;
          }
          onEvent({ event: message.event ?? 'message', data });
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  /** Sends with the session's token; a `401` renews the token once and retries. */
  private async authorized(method: string, path: string, body: unknown, accept: string): Promise<Response> {
    const response = await this.send(method, path, await this.session.accessToken(), body, accept);
    if (response.status !== 401) return response;
    await response.body?.cancel();
    return this.send(method, path, await this.session.rejected(), body, accept);
  }

  /** A JSON answer: the parsed body, or the contract's error as an {@link ApiError}. */
  private async read<T>(method: string, path: string, response: Response, schema: z.ZodType<T>): Promise<Answer<T>> {
    const text = await response.text();
    let raw: unknown;
    if (text !== '') {
      try {
        raw = JSON.parse(text);
      } catch {
        throw new ApiError(
          response.status,
          `http_${response.status}`,
          `${method} ${path} answered ${response.status} with a body that is not JSON.`,
        );
      }
    }
    if (!response.ok) {
      const error = errorBodySchema.safeParse(raw);
      if (!error.success)
        throw new ApiError(
          response.status,
          `http_${response.status}`,
          `${method} ${path} answered ${response.status} without an error body.`,
        );
      const { code, message, details } = error.data.error;
      throw new ApiError(response.status, code, message, details ?? [], error.data.conversationId);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const where = parsed.error.issues[0]?.path.join('.') || '(body)';
      throw new ApiError(
        response.status,
        'unexpected_response',
        `${method} ${path} answered ${response.status} with a body the CLI does not understand (at ${where}).`,
      );
    }
    return { status: response.status, raw, body: parsed.data };
  }

  private async send(method: string, path: string, token: string, body: unknown, accept: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(`${this.apiUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      const reason = networkReason(error) ?? (error instanceof Error ? error.message : String(error));
      throw new CliError('unreachable', `Cannot reach the API at ${this.apiUrl} (${reason}).`, ExitCode.unreachable, this.unreachableHint);
    }
  }
}

/** An event's `data` as JSON. */
function parseData(path: string, message: EventSourceMessage): unknown {
  try {
    return JSON.parse(message.data);
  } catch {
    throw unreadable(path, message.event ?? 'message');
  }
}

function unreadable(path: string, event: string): ApiError {
  return new ApiError(200, 'unexpected_response', `POST ${path} streamed a \`${event}\` event the CLI does not understand.`);
}

export function continueHint(conversationId: string): string {
  return `The conversation ${conversationId} is kept; continue it with --conversation ${conversationId}.`;
}
