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

/**
 * What is left of a history (oldest first, expired messages already left out) once retention has
 * taken its oldest part: the messages after the last gap in `seq`, from the first exchange that
 * opens there. An exchange whose opening message is gone is dropped whole, so a `tool_use` never
 * reaches anyone without its `tool_result`.
 */
export function intactHistory(messages: readonly StoredMessage[]): StoredMessage[] {
  let from = 0;
  for (let i = 1; i < messages.length; i++) {
    if (messages[i]!.seq !== messages[i - 1]!.seq + 1) from = i;
  }
  while (from < messages.length && !messages[from]!.startsExchange) from++;
  return messages.slice(from);
}

/** The text blocks of a message, joined: Claude's answer. */
export function replyOf(message: Message | undefined): string {
  if (!message) return '';
  return message.content
    .filter((block): block is { type: 'text'; text: string } => block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text)
    .join('\n\n');
}
