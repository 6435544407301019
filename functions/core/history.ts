import type { ContentBlock, Message, StoredMessage } from './domain';

/** A deterministic token estimate (~4 characters a token), enough to fit a window safely. */
export function estimateTokens(content: readonly ContentBlock[]): number {
  return Math.ceil(JSON.stringify(content).length / 4) + 4;
}

/** Whether a user message opens an exchange: it carries the user's words, not tool results. */
export function opensExchange(message: Message): boolean {
  return message.role === 'user' && !message.content.some((block) => block.type === 'tool_result');
}

/**
 * Fits a history (oldest first) into `tokenBudget` by dropping the oldest whole exchanges: the
 * result always starts at an exchange, so no `tool_use` is ever split from its `tool_result`.
 * The newest exchange is always kept, even alone over budget.
 */
export function fitWindow(messages: readonly StoredMessage[], tokenBudget: number): StoredMessage[] {
  let total = 0;
  let start = messages.length;
  let lastFit = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    total += messages[i]!.tokens;
    if (messages[i]!.startsExchange) {
      if (total <= tokenBudget || lastFit === -1) lastFit = i;
      if (total > tokenBudget) break;
    }
    start = i;
  }
  if (lastFit === -1) return [...messages.slice(start)];
  return messages.slice(lastFit);
}

/** The text blocks of a message, joined: Claude's answer. */
export function replyOf(message: Message | undefined): string {
  if (!message) return '';
  return message.content
    .filter((block): block is { type: 'text'; text: string } => block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text)
    .join('\n\n');
}
