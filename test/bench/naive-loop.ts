/**
 * The baseline of scenario 2: the tool loop as it is usually first written, re-implemented here
 * only to be measured against ours. It talks to the same stand-ins through the same adapters
 * (Anthropic SDK, Scalekit SDK, DocumentClient), behind the same local gateway and Cognito
 * authorizer, so the difference is the orchestration alone:
 *
 * - the caller's scoped tools are listed before **every** model call;
 * - `tool_use` blocks run **one after another**;
 * - the **whole conversation** is one item, read at the start and rewritten at the end of each turn;
 * - the answer is `content[0]` of the last message (text blocks after it are lost).
 *
 * No lease, no per-tool records, no history window: it is not a candidate, only a yardstick.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ContentBlock, Message, ToolResultBlock, ToolUseBlock } from '../../functions/core/domain';
import type { ChatModel, ConnectedAccounts } from '../../functions/core/ports';

export interface NaiveLoopDeps {
  readonly db: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly model: ChatModel;
  readonly accounts: ConnectedAccounts;
  readonly connection: string;
  readonly toolAllowlist: readonly string[];
  readonly systemPrompt: string;
  /** Model calls per request. */
  readonly modelCallBudget: number;
}

const json = (statusCode: number, body: unknown): APIGatewayProxyResult => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const isToolUse = (block: ContentBlock): block is ToolUseBlock => block.type === 'tool_use';

/** One request of the naive loop: the user's message, then model ↔ tools until the model stops. */
async function naiveTurn(deps: NaiveLoopDeps, sub: string, id: string, text: string, isNew: boolean) {
  const key = { pk: `NAIVE#${sub}`, sk: `CONV#${id}` };
  let messages: Message[] = [];
  if (!isNew) {
    const { Item } = await deps.db.send(new GetCommand({ TableName: deps.tableName, Key: key, ConsistentRead: true }));
    if (!Item) return undefined;
    messages = JSON.parse(String(Item.messages)) as Message[];
  }
  messages.push({ role: 'user', content: [{ type: 'text', text }] });
  const allowed = new Set(deps.toolAllowlist);
  const toolCalls: { name: string; outcome: string; durationMs: number }[] = [];
  let last: Message | undefined;
  for (let calls = 0; calls < deps.modelCallBudget; calls++) {
    const tools = (await deps.accounts.listTools(sub, [deps.connection])).filter((tool) => allowed.has(tool.name));
    const response = await deps.model.complete({ system: deps.systemPrompt, tools, messages });
    last = { role: 'assistant', content: response.content };
    messages.push(last);
    const uses = response.content.filter(isToolUse);
    if (response.stopReason !== 'tool_use' || uses.length === 0) break;
    const results: ToolResultBlock[] = [];
    for (const use of uses) {
      const started = Date.now();
      const result = await deps.accounts.execute(sub, deps.connection, use.name, use.input);
      const content = result.kind === 'succeeded' ? JSON.stringify(result.data ?? null) : result.message;
      results.push({ type: 'tool_result', tool_use_id: use.id, content, ...(result.kind === 'succeeded' ? {} : { is_error: true }) });
      toolCalls.push({ name: use.name, outcome: result.kind, durationMs: Date.now() - started });
    }
    messages.push({ role: 'user', content: results });
  }
  await deps.db.send(
    new PutCommand({
      TableName: deps.tableName,
      Item: { ...key, messages: JSON.stringify(messages), updatedAt: new Date().toISOString() },
    }),
  );
  const first = last?.content[0];
  const reply = first?.type === 'text' && typeof first.text === 'string' ? first.text : null;
  return { conversationId: id, status: 'completed', reply, toolCalls };
}

/** The naive loop as a proxy handler for the local gateway: `POST /conversations` and `…/{id}/messages`. */
export function createNaiveChatHandler(deps: NaiveLoopDeps) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const sub = (event.requestContext.authorizer?.claims as Record<string, string> | undefined)?.sub;
    if (!sub) return json(401, { error: { code: 'unauthorized', message: 'no identity', details: [] } });
    const body = JSON.parse(event.body ?? '{}') as { message?: unknown };
    if (typeof body.message !== 'string') return json(400, { error: { code: 'validation_failed', message: 'message', details: [] } });
    const id = event.pathParameters?.id;
    if (event.httpMethod === 'POST' && event.resource === '/conversations') {
      return json(201, await naiveTurn(deps, sub, `n_${randomUUID()}`, body.message, true));
    }
    if (event.httpMethod === 'POST' && event.resource === '/conversations/{id}/messages' && id) {
      const outcome = await naiveTurn(deps, sub, id, body.message, false);
      return outcome ? json(200, outcome) : json(404, { error: { code: 'not_found', message: 'No such conversation.', details: [] } });
    }
    return json(404, { error: { code: 'not_found', message: 'No such route.', details: [] } });
  };
}
