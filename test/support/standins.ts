import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';

const post = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json() as Promise<unknown>;
};

/** A marker no other test's message contains, so a script matches only this test's conversation. */
export const marker = (label: string) => `[${label} ${randomUUID().slice(0, 8)}]`;

/** Scripts the Claude stand-in for conversations whose first user message contains `match`. */
export const script = (match: string, turns: unknown[]) => post(`${inject('stack').modelUrl}/_control/scripts`, { match, turns });

export const modelLatency = (ms: number) => post(`${inject('stack').modelUrl}/_control/latency`, { ms });
export const toolLatency = (ms: number) => post(`${inject('stack').scalekit.environmentUrl}/_control/latency`, { ms });

/** Sets a connected account's status at the Scalekit emulator. */
export const setAccountStatus = (identifier: string, status: 'EXPIRED' | 'DISCONNECTED') =>
  post(`${inject('stack').scalekit.environmentUrl}/_control/connected-accounts/status`, { connection: 'asana', identifier, status });

export interface Execution {
  seq: number;
  toolName: string;
  identifier: string;
  connectedAccountId: string;
  startedAt: string;
  finishedAt: string;
  outcome: string;
}

/** The Scalekit emulator's executions log after `since`. */
export async function executions(since = 0): Promise<Execution[]> {
  const response = await fetch(`${inject('stack').scalekit.environmentUrl}/_control/executions?since=${since}`);
  return ((await response.json()) as { executions: Execution[] }).executions;
}

export interface AsanaRequest {
  seq: number;
  method: string;
  path: string;
  query: Record<string, string>;
  asanaUserGid: string | null;
  status: number;
}

/** The Asana emulator's request log after `since`. */
export async function asanaRequests(since = 0): Promise<AsanaRequest[]> {
  const response = await fetch(`${inject('stack').asanaUrl}/_control/requests?since=${since}`);
  return ((await response.json()) as { requests: AsanaRequest[] }).requests;
}

/** The newest sequence number of a log, for a cursor of a test's own. */
export const cursor = async (log: () => Promise<{ seq: number }[]>) => (await log()).at(-1)?.seq ?? 0;

/** A scripted assistant turn calling tools. */
export const toolTurn = (...uses: { id?: string; name: string; input: Record<string, unknown> }[]) => ({
  role: 'assistant',
  type: 'message',
  content: uses.map((use) => ({
    type: 'tool_use',
    id: use.id ?? `toolu_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
    name: use.name,
    input: use.input,
  })),
  stop_reason: 'tool_use',
});

/** A scripted final text turn. */
export const textTurn = (text: string, stop_reason = 'end_turn') => ({
  role: 'assistant',
  type: 'message',
  content: [{ type: 'text', text }],
  stop_reason,
});
