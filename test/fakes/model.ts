import type { ContentBlock, ModelResponse, Usage } from '../../functions/core/domain';
import type { ChatModel, ModelCallOptions, ModelRequest, ModelTextPart } from '../../functions/core/ports';
import { copy } from './copy';

export type { ModelRequest };
/**
 * A scripted turn: a response, or a function of the request (may wait, may throw; `signal` is the
 * caller's deadline for the call, `onText` hears text as a streamed call would, if the turn streams its own).
 */
export type ModelTurn =
  | ModelResponse
  | ((
      request: ModelRequest,
      call: { signal?: AbortSignal; onText?: (part: ModelTextPart) => void },
    ) => ModelResponse | Promise<ModelResponse>);

/** A turn that streams `pieces` of text, then never answers: only its signal ends it (it rejects with the abort). */
export const hangsAfter =
  (...pieces: string[]): ModelTurn =>
  (_request, { signal, onText }) => {
    if (pieces.length > 0) onText?.({ kind: 'text_start' });
    for (const text of pieces) onText?.({ kind: 'text_delta', text });
    return new Promise<ModelResponse>((_resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };

/** Claude, scripted: answers queued turns in order and records every request it got. */
export class ScriptedModel implements ChatModel {
  readonly requests: ModelRequest[] = [];
  private readonly turns: ModelTurn[] = [];
  /** Answers when the queue is empty (e.g. "always ask for a tool"). */
  fallback: ModelTurn | undefined;

  constructor(...turns: ModelTurn[]) {
    this.turns.push(...turns);
  }

  queue(...turns: ModelTurn[]): void {
    this.turns.push(...turns);
  }

  get remaining(): number {
    return this.turns.length;
  }

  /** Calls made through `stream` (the rest went through `complete`). */
  streamed = 0;

  async complete(request: ModelRequest, options: ModelCallOptions = {}): Promise<ModelResponse> {
    return this.answer(request, { signal: options.signal });
  }

  /**
   * Streams the answer's text: each text block opens, then its text arrives in pieces of up to
   * 5 characters. A turn given `onText` that sends its own text (see {@link hangsAfter}) is not streamed again.
   */
  async stream(request: ModelRequest, options: ModelCallOptions & { onText: (part: ModelTextPart) => void }): Promise<ModelResponse> {
    this.streamed++;
    let heard = false;
    const onText = (part: ModelTextPart) => {
      heard = true;
      options.onText(part);
    };
    const response = await this.answer(request, { signal: options.signal, onText });
    if (!heard) {
      for (const block of response.content) {
        if (block.type !== 'text' || typeof block.text !== 'string') continue;
        options.onText({ kind: 'text_start' });
        for (let i = 0; i < block.text.length; i += 5) options.onText({ kind: 'text_delta', text: block.text.slice(i, i + 5) });
      }
    }
    return response;
  }

  private async answer(
    request: ModelRequest,
    call: { signal?: AbortSignal; onText?: (part: ModelTextPart) => void },
  ): Promise<ModelResponse> {
    this.requests.push(copy(request));
    const turn = this.turns.shift() ?? this.fallback;
    if (turn === undefined) throw new Error(`the scripted model has no turn left (request ${this.requests.length})`);
    return copy(typeof turn === 'function' ? await turn(request, call) : turn);
  }
}

export const usage = (inputTokens = 10, outputTokens = 5, cacheCreationInputTokens = 0, cacheReadInputTokens = 0): Usage => ({
  inputTokens,
  outputTokens,
  cacheCreationInputTokens,
  cacheReadInputTokens,
});

export const textBlock = (text: string): ContentBlock => ({ type: 'text', text });
export const toolUseBlock = (id: string, name: string, input: Record<string, unknown> = {}): ContentBlock => ({
  type: 'tool_use',
  id,
  name,
  input,
});

/** Claude answers with text and ends its turn (or stops for `stopReason`). */
export const says = (text: string, stopReason = 'end_turn', tokens: Usage = usage()): ModelResponse => ({
  content: [textBlock(text)],
  stopReason,
  usage: tokens,
});

/** Claude asks for tools (`[id, name, input]` each), optionally after some text. */
export const callsTools = (
  uses: readonly (readonly [string, string, Record<string, unknown>?])[],
  options: { text?: string; usage?: Usage } = {},
): ModelResponse => ({
  content: [...(options.text ? [textBlock(options.text)] : []), ...uses.map(([id, name, input]) => toolUseBlock(id, name, input ?? {}))],
  stopReason: 'tool_use',
  usage: options.usage ?? usage(),
});
