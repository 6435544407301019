import type { z } from 'zod';
import { errorBodySchema } from './contract';
import { ApiError, CliError, ExitCode, networkReason } from './errors';
import type { Session } from './login';

/** An API answer: the body as the API sent it (for `--json`) and as the CLI reads it. */
export interface Answer<T> {
  readonly status: number;
  readonly raw: unknown;
  readonly body: T;
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
    let response = await this.send(method, path, await this.session.accessToken(), body);
    if (response.status === 401) {
      await response.body?.cancel();
      response = await this.send(method, path, await this.session.rejected(), body);
    }
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

  private async send(method: string, path: string, token: string, body: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(`${this.apiUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      const reason = networkReason(error) ?? (error instanceof Error ? error.message : String(error));
      throw new CliError('unreachable', `Cannot reach the API at ${this.apiUrl} (${reason}).`, ExitCode.unreachable, this.unreachableHint);
    }
  }
}
