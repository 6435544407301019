import { isConversationId, type Message, type PendingApproval, type RunStatus, type Usage } from '../domain';
import { DomainError } from '../errors';
import { BadPageToken } from '../ports';
import { toolUsesOf } from './messages';
import { notFound } from './open-run';
import type { ToolCallView } from './outcome';
import type { ChatDeps } from './settings';

/** A conversation as `GET /conversations/{id}` shows it. */
export interface ConversationView {
  readonly conversationId: string;
  readonly status: RunStatus;
  readonly title: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly messages: readonly Message[];
  readonly toolCalls: readonly ToolCallView[];
  readonly pendingApprovals: readonly PendingApproval[];
  readonly usage: Usage;
}

/** `GET /conversations/{id}`: every message and tool call, oldest first. */
export async function getConversation(deps: Pick<ChatDeps, 'store'>, sub: string, id: string): Promise<ConversationView> {
  if (!isConversationId(id)) throw notFound();
  const header = await deps.store.get(sub, id);
  if (!header) throw notFound();
  const [messages, records] = await Promise.all([deps.store.messages(sub, id), deps.store.toolRecords(sub, id)]);
  const order = new Map<string, number>();
  const inputs = new Map<string, Record<string, unknown>>();
  messages.forEach((message, index) => {
    toolUsesOf(message).forEach((use, j) => {
      order.set(use.id, index * 1000 + j);
      inputs.set(use.id, use.input);
    });
  });
  const toolCalls = records
    .filter((record) => record.outcome !== undefined)
    .sort((a, b) => (order.get(a.toolUseId) ?? 0) - (order.get(b.toolUseId) ?? 0))
    .map((record) => ({
      toolUseId: record.toolUseId,
      name: record.name,
      // The `tool_use` block holds the input; records of older versions kept a copy.
      input: inputs.get(record.toolUseId) ?? record.input ?? {},
      outcome: record.outcome!,
      durationMs: record.durationMs ?? 0,
    }));
  return {
    conversationId: id,
    status: header.status,
    title: header.title,
    createdAt: header.createdAt,
    updatedAt: header.updatedAt,
    messages: messages.map(({ role, content }) => ({ role, content })),
    toolCalls,
    pendingApprovals: header.status === 'awaiting_approval' ? header.pendingApprovals : [],
    usage: header.usage,
  };
}

/** `GET /conversations`: the caller's conversations, newest first. */
export async function listConversations(deps: Pick<ChatDeps, 'store'>, sub: string, request: { limit: number; nextToken?: string }) {
  let page;
  try {
    page = await deps.store.list(sub, request.limit, request.nextToken);
  } catch (error) {
    if (error instanceof BadPageToken) {
      throw new DomainError('validation_failed', 'nextToken is not valid.', [
        { path: 'nextToken', message: 'not a token this API issued' },
      ]);
    }
    throw error;
  }
  return {
    conversations: page.items.map((header) => ({
      conversationId: header.id,
      status: header.status,
      title: header.title,
      createdAt: header.createdAt,
      updatedAt: header.updatedAt,
    })),
    nextToken: page.nextToken,
  };
}
