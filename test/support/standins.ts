import { inject } from 'vitest';
import { type AsanaRequest, cursor, type Execution, stackControl } from '../stack/control';

export { marker, textTurn, toolTurn, toolTurnAfter } from '../stack/turns';
export { cursor };
export type { AsanaRequest, Execution };

/** The control routes of the suite's shared stack. */
export const control = () => stackControl(inject('stack'));

/** Scripts the Claude stand-in for conversations whose first user message contains `match`. */
export const script = (match: string, turns: unknown[], options: { contextWindowTokens?: number } = {}) =>
  control().model.script(match, turns, options);

export const modelLatency = (ms: number) => control().model.setLatency(ms);
export const toolLatency = (ms: number) => control().scalekit.setLatency(ms);

/** Sets a connected account's status at the Scalekit emulator. */
export const setAccountStatus = (identifier: string, status: 'EXPIRED' | 'DISCONNECTED') =>
  control().scalekit.setAccountStatus(identifier, status);

/** The Scalekit emulator's executions log after `since`. */
export const executions = (since = 0): Promise<Execution[]> => control().scalekit.executions(since);

/** The Asana emulator's request log after `since`. */
export const asanaRequests = (since = 0): Promise<AsanaRequest[]> => control().asana.requests(since);
