import { estimateTokens, opensExchange } from '../history';
import type { Message, StoredMessage, ToolUseBlock, Usage } from '../domain';

/** Stop reasons after which Claude's answer is complete. */
export const STOP_COMPLETES = new Set(['end_turn', 'stop_sequence', 'refusal']);
/** Stop reasons after which Claude's answer was cut off. */
export const STOP_TRUNCATES = new Set(['max_tokens', 'model_context_window_exceeded']);
/** DynamoDB items stay well under 400 KB: all results of one message share this many stored bytes. */
export const MESSAGE_RESULTS_MAX_BYTES = 300_000;
export const ZERO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };

export const iso = (ms: number) => new Date(ms).toISOString();

export const addUsage = (a: Usage, b: Usage): Usage => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  cacheCreationInputTokens: a.cacheCreationInputTokens + b.cacheCreationInputTokens,
  cacheReadInputTokens: a.cacheReadInputTokens + b.cacheReadInputTokens,
});

export const toolUsesOf = (message: Message | undefined): ToolUseBlock[] =>
  (message?.content ?? []).filter((block): block is ToolUseBlock => block.type === 'tool_use');

/**
 * The history as Claude accepts it back: empty text blocks dropped, and an assistant message left
 * with nothing dropped (consecutive turns of one role are merged by the API).
 */
export function sendable(history: readonly StoredMessage[]): Message[] {
  const messages: Message[] = [];
  for (const { role, content } of history) {
    const kept = content.filter((block) => !(block.type === 'text' && typeof block.text === 'string' && block.text.trim() === ''));
    if (kept.length === 0 && role === 'assistant') continue;
    messages.push({ role, content: kept.length === content.length ? content : kept });
  }
  // Continuing a paused turn ends on Claude's own message, which may not end in white space.
  const last = messages.at(-1);
  const lastBlock = last?.content.at(-1);
  if (last?.role === 'assistant' && lastBlock?.type === 'text' && typeof lastBlock.text === 'string') {
    const trimmed = lastBlock.text.trimEnd();
    const content = trimmed === '' ? last.content.slice(0, -1) : [...last.content.slice(0, -1), { ...lastBlock, text: trimmed }];
    if (content.length === 0) messages.pop();
    else messages[messages.length - 1] = { role: 'assistant', content };
  }
  return messages;
}

/** A message as stored at position `seq`, with what the loop needs to know without re-reading it. */
export function storedMessage(seq: number, message: Message, stopReason?: string): StoredMessage {
  return {
    seq,
    role: message.role,
    content: message.content,
    stopReason,
    startsExchange: opensExchange(message),
    tokens: estimateTokens(message.content),
  };
}
