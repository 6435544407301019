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

/**
 * Shrinks what is sent to fit `tokenBudget` when even the newest exchange alone is over it (many
 * large tool results): the oldest tool results are cut first, each keeping its start and a
 * visible marker, until the history fits. What is stored is never changed.
 */
export function shrinkToFit(messages: readonly Message[], tokenBudget: number): Message[] {
  const sizes = messages.map((message) => estimateTokens(message.content));
  let excess = sizes.reduce((sum, size) => sum + size, 0) - tokenBudget;
  if (excess <= 0) return [...messages];
  const shrunk = [...messages];
  for (let i = 0; i < shrunk.length && excess > 0; i++) {
    const message = shrunk[i]!;
    if (!message.content.some((block) => block.type === 'tool_result')) continue;
    const content = message.content.map((block) => {
      if (excess <= 0 || block.type !== 'tool_result' || typeof block.content !== 'string') return block;
      const text = block.content;
      const marker = `\n…[shortened to fit the conversation: this result held ${Buffer.byteLength(text, 'utf8')} bytes]`;
      // ~4 characters a token (as estimated); JSON escaping only makes the cut larger than needed.
      const keep = Math.max(0, text.length - excess * 4 - marker.length);
      if (keep >= text.length) return block;
      const cut = `${text.slice(0, keep)}${marker}`;
      excess -= Math.floor((JSON.stringify(text).length - JSON.stringify(cut).length) / 4);
      return { ...block, content: cut };
    });
    shrunk[i] = { role: message.role, content };
  }
  return shrunk;
}

/** Tool names the history uses: Claude refuses tool blocks when no tool is offered, so they stay listed. */
export function toolNamesIn(messages: readonly Message[]): string[] {
  const names = new Set<string>();
  for (const message of messages) {
    for (const block of message.content) if (block.type === 'tool_use' && typeof block.name === 'string') names.add(block.name);
  }
  return [...names].sort();
}
