import type { ContentBlock, ModelResponse, Usage } from '../../functions/core/domain';
import type { ChatModel } from '../../functions/core/ports';
import { copy } from './copy';

export type ModelRequest = Parameters<ChatModel['complete']>[0];
/** A scripted turn: a response, or a function of the request (may wait, may throw). */
export type ModelTurn = ModelResponse | ((request: ModelRequest) => ModelResponse | Promise<ModelResponse>);

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

  async complete(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(copy(request));
    const turn = this.turns.shift() ?? this.fallback;
    if (turn === undefined) throw new Error(`the scripted model has no turn left (request ${this.requests.length})`);
    return copy(typeof turn === 'function' ? await turn(request) : turn);
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
