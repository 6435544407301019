/** Assertions and helpers over the use cases' results: domain errors and Messages API histories. */
import { expect } from 'vitest';
import { DomainError } from '../../functions/core/errors';
import type { ContentBlock, Message, ToolResultBlock, ToolUseBlock } from '../../functions/core/domain';

/** The messages of a request as plain `{role, content}`, for comparing histories. */
export const plain = (messages: readonly Message[]): Message[] => messages.map(({ role, content }) => ({ role, content }));

/** Runs `act` and returns the DomainError it threw (fails the test if it threw none, or another kind). */
export async function domainError(act: () => unknown): Promise<DomainError> {
  try {
    await act();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('expected a DomainError, but nothing was thrown');
}

/**
 * Asserts the Messages API pairing rule over a history: every assistant `tool_use` is answered,
 * in order and completely, by the very next (user) message's `tool_result` blocks, and no
 * `tool_result` appears anywhere else. The history starts with the user's words.
 */
export function expectPaired(messages: readonly Message[]): void {
  expect(messages[0]?.role).toBe('user');
  expect(messages[0]?.content.some((block) => block.type === 'tool_result')).toBe(false);
  messages.forEach((message, index) => {
    const uses = toolUseIds(message);
    const results = toolResultIds(message);
    if (message.role === 'assistant') expect(results).toEqual([]);
    if (uses.length > 0) {
      const next = messages[index + 1];
      if (next === undefined) return; // the newest message may still await its results
      expect(next.role).toBe('user');
      expect(next.content.map((block) => (isToolResult(block) ? block.tool_use_id : block.type))).toEqual(uses);
    }
    if (results.length > 0) {
      const previous = messages[index - 1];
      expect(previous?.role).toBe('assistant');
      expect(previous ? toolUseIds(previous) : []).toEqual(results);
    }
  });
}

export const isToolUse = (block: ContentBlock): block is ToolUseBlock => block.type === 'tool_use';
export const isToolResult = (block: ContentBlock): block is ToolResultBlock => block.type === 'tool_result';
export const toolUseIds = (message: Message): string[] => message.content.filter(isToolUse).map((block) => block.id);
export const toolResultIds = (message: Message): string[] => message.content.filter(isToolResult).map((block) => block.tool_use_id);
