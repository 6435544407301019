/** Builders of scripted Claude turns for the stand-in's `_control/scripts` (tests and bench). */
import { randomUUID } from 'node:crypto';

/** A marker no other conversation's message contains, so a script matches only the caller's own. */
export const marker = (label: string) => `[${label} ${randomUUID().slice(0, 8)}]`;

export interface ScriptedToolUse {
  readonly id?: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
}

const toolUseBlock = (use: ScriptedToolUse) => ({
  type: 'tool_use',
  id: use.id ?? `toolu_${randomUUID().replace(/-/g, '').slice(0, 22)}`,
  name: use.name,
  input: use.input,
});

/** A scripted assistant turn calling `uses` in parallel. */
export const toolTurn = (...uses: ScriptedToolUse[]) => ({
  role: 'assistant',
  type: 'message',
  content: uses.map(toolUseBlock),
  stop_reason: 'tool_use',
});

/** A scripted assistant turn that says `text`, then calls `uses` in parallel. */
export const toolTurnAfter = (text: string, ...uses: ScriptedToolUse[]) => ({
  ...toolTurn(...uses),
  content: [{ type: 'text', text }, ...uses.map(toolUseBlock)],
});

/** A scripted final text turn. */
export const textTurn = (text: string, stop_reason = 'end_turn') => ({
  role: 'assistant',
  type: 'message',
  content: [{ type: 'text', text }],
  stop_reason,
});
