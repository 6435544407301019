import { createParser } from 'eventsource-parser';
import type { Auth } from './auth';

/** An error answered by the API in the contract's shape (`{ error: { code, message } }`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly conversationId?: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export type Outcome = 'succeeded' | 'failed' | 'denied' | 'unknown';

export interface ToolCall {
  toolUseId: string;
  name: string;
  input: unknown;
  outcome?: Outcome;
  durationMs?: number;
}

export interface PendingApproval {
  toolUseId: string;
  name: string;
  input: unknown;
}

export type RunStatus = 'completed' | 'in_progress' | 'awaiting_approval' | 'needs_authorization';

/** The outcome of a run, as every run route answers it. */
export interface RunResult {
  conversationId: string;
  status: RunStatus;
  reply: string | null;
  toolCalls: ToolCall[];
  pendingApprovals: PendingApproval[];
  authorizationUrl: string | null;
  truncated?: boolean;
}

export interface ContentBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
}

export interface Conversation {
  conversationId: string;
  status: RunStatus;
  title: string;
  createdAt: string;
  updatedAt: string;
  messages: { role: 'user' | 'assistant'; content: string | ContentBlock[] }[];
  toolCalls: ToolCall[];
  pendingApprovals: PendingApproval[];
}

export interface ConversationSummary {
  conversationId: string;
  status: RunStatus;
  title: string;
  createdAt: string;
  updatedAt: string;
}

export interface Account {
  name: string;
  email: string;
  gid: string;
}

export interface Connection {
  connection: string;
  status: 'ACTIVE' | 'PENDING_AUTH' | 'PENDING_VERIFICATION' | 'EXPIRED' | 'DISCONNECTED' | 'NOT_CONNECTED';
  account: Account | null;
  checkedAt: string | null;
}

export interface Usage {
  day: string;
  requests: number;
  tokens: { inputTokens: number; outputTokens: number; cacheCreationInputTokens: number; cacheReadInputTokens: number };
  limits: { requestsPerMinute: number; dailyTokens: number };
}

/** What a streamed run reports as it goes (`docs/api.md`, "Streaming runs"). */
export interface RunEvents {
  onRun?(conversationId: string): void;
  onText?(delta: string): void;
  onTextReset?(): void;
  onToolCall?(call: ToolCall): void;
  onToolResult?(result: { toolUseId: string; name: string; outcome: Outcome; durationMs: number }): void;
}

/** Thrown when there is no session any more: the app shows the sign-in page. */
export class SignedOut extends Error {}

const errorOf = async (response: Response): Promise<ApiError> => {
  let body: { error?: { code?: unknown; message?: unknown }; conversationId?: unknown } = {};
  try {
    body = await response.json();
  } catch {
    // not the contract's shape: keep the status only
  }
  const retryAfter = Number(response.headers.get('retry-after') ?? '');
  return new ApiError(
    response.status,
    typeof body.error?.code === 'string' ? body.error.code : 'http_error',
    typeof body.error?.message === 'string' ? body.error.message : `The request failed (HTTP ${response.status}).`,
    typeof body.conversationId === 'string' ? body.conversationId : undefined,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
};

/** The public API, called with the signed-in user's access token. */
export class Api {
  constructor(
    private readonly apiUrl: string,
    private readonly auth: Auth,
  ) {}

  private async send(method: string, path: string, body: unknown, accept: string): Promise<Response> {
    let token = await this.auth.accessToken();
    if (!token) throw new SignedOut();
    const attempt = (bearer: string) =>
      fetch(`${this.apiUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${bearer}`,
          accept,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    let response = await attempt(token);
    if (response.status === 401) {
      token = await this.auth.renew();
      if (!token) throw new SignedOut();
      response = await attempt(token);
      if (response.status === 401) throw new SignedOut();
    }
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body, 'application/json');
    if (!response.ok) throw await errorOf(response);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /**
   * Starts a run and reports its events as they arrive. Asks for Server-Sent Events; a server
   * that answers JSON instead is handled too (the outcome then arrives at once).
   */
  async run(path: string, body: unknown, events: RunEvents): Promise<RunResult> {
    const response = await this.send('POST', path, body, 'text/event-stream');
    if (!response.ok) throw await errorOf(response);
    const type = response.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || !response.body) {
      const result = (await response.json()) as RunResult;
      events.onRun?.(result.conversationId);
      for (const call of result.toolCalls) {
        events.onToolCall?.(call);
        if (call.outcome)
          events.onToolResult?.({ toolUseId: call.toolUseId, name: call.name, outcome: call.outcome, durationMs: call.durationMs ?? 0 });
      }
      return result;
    }
    let outcome: RunResult | undefined;
    let failure: ApiError | undefined;
    let conversationId: string | undefined;
    const parser = createParser({
      onEvent(message) {
        const data = JSON.parse(message.data) as Record<string, unknown>;
        switch (message.event) {
          case 'run':
            conversationId = String(data.conversationId);
            events.onRun?.(conversationId);
            break;
          case 'text':
            events.onText?.(String(data.delta ?? ''));
            break;
          case 'text_reset':
            events.onTextReset?.();
            break;
          case 'tool_call':
            events.onToolCall?.(data as unknown as ToolCall);
            break;
          case 'tool_result':
            events.onToolResult?.(data as unknown as { toolUseId: string; name: string; outcome: Outcome; durationMs: number });
            break;
          case 'outcome':
            outcome = data as unknown as RunResult;
            break;
          case 'error': {
            const error = (data.error ?? {}) as { code?: unknown; message?: unknown };
            failure = new ApiError(
              500,
              typeof error.code === 'string' ? error.code : 'internal_error',
              typeof error.message === 'string' ? error.message : 'The run failed.',
              typeof data.conversationId === 'string' ? data.conversationId : conversationId,
            );
            break;
          }
        }
      },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
    if (failure) throw failure;
    if (!outcome)
      throw new ApiError(
        502,
        'upstream_failed',
        'The answer stopped before the run finished. Open the conversation again to see where it stands.',
        conversationId,
      );
    return outcome;
  }
}
