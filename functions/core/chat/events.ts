import type { ToolOutcome } from '../domain';
import type { RunOutcome } from './outcome';

/**
 * What a run reports as it goes, for a client that streams (`Accept: text/event-stream`). The
 * core emits `run`, `text`, `text_reset`, `tool_call` and `tool_result`; the edge that streams
 * ends with `outcome` or `error`.
 */
export type RunEvent =
  | { readonly event: 'run'; readonly data: { readonly conversationId: string } }
  | { readonly event: 'text'; readonly data: { readonly delta: string } }
  | { readonly event: 'text_reset'; readonly data: Record<string, never> }
  | {
      readonly event: 'tool_call';
      readonly data: { readonly toolUseId: string; readonly name: string; readonly input: Record<string, unknown> };
    }
  | {
      readonly event: 'tool_result';
      readonly data: { readonly toolUseId: string; readonly name: string; readonly outcome: ToolOutcome; readonly durationMs: number };
    }
  | { readonly event: 'outcome'; readonly data: RunOutcome }
  | {
      readonly event: 'error';
      readonly data: { readonly error: { readonly code: string; readonly message: string }; readonly conversationId: string };
    };

/** Where a run's events go. Emitting never fails the run: a sink whose client went away drops them. */
export interface RunEvents {
  emit(event: RunEvent): void;
}
