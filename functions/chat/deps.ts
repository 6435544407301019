import { randomBytes } from 'node:crypto';
import { AnthropicChatModel } from '../adapters/anthropic';
import { DynamoConversationStore } from '../adapters/conversation-store';
import { anthropicApiKey, config, connectedAccounts, connectionsDeps, documentClient, once, systemClock } from '../adapters/runtime';
import { rebuildOnChange, refreshing } from '../adapters/secrets';
import { type ChatDeps, DEFAULT_SYSTEM_PROMPT } from '../core/chat';
import type { ChatModel } from '../core/ports';

/** A conversation id that sorts by creation time: `c_` + 10 base-36 digits of ms + 12 hex. */
export function newConversationId(now = Date.now()): string {
  return `c_${now.toString(36).padStart(10, '0')}${randomBytes(6).toString('hex')}`;
}

/** The composition root of the `chat` function: everything the chat use cases need, once per container. */
export const chatDeps = once(async (): Promise<ChatDeps> => {
  const settings = config();
  const accounts = await connectedAccounts();
  const db = await documentClient();
  // The SDK client is rebuilt when the key in the secret changes (see adapters/secrets.ts).
  const modelFor = rebuildOnChange(
    (apiKey: string) =>
      new AnthropicChatModel(
        {
          apiKey,
          baseURL: settings.ANTHROPIC_BASE_URL,
          // A backstop only: every call is bounded by the request's deadline through its signal.
          timeoutMs: settings.ONBEHALF_MODEL_TIMEOUT_MS + 5_000,
        },
        settings.ONBEHALF_MODEL_ID,
        settings.ONBEHALF_MAX_TOKENS,
      ),
  );
  const model: ChatModel = refreshing(async () => modelFor(await anthropicApiKey()));
  return {
    store: new DynamoConversationStore(db, settings.TABLE_NAME, { days: settings.ONBEHALF_CONVERSATION_TTL_DAYS, clock: systemClock }),
    accounts,
    model,
    clock: systemClock,
    newConversationId: () => newConversationId(),
    newLeaseId: () => randomBytes(12).toString('hex'),
    connections: await connectionsDeps(),
    settings: {
      connections: settings.ONBEHALF_CONNECTIONS,
      toolAllowlist: settings.ONBEHALF_TOOL_ALLOWLIST,
      toolPolicy: settings.ONBEHALF_TOOL_POLICY,
      modelCallBudget: settings.ONBEHALF_MODEL_CALL_BUDGET,
      timeBudgetMs: settings.ONBEHALF_TIME_BUDGET_MS,
      streamTimeBudgetMs: settings.ONBEHALF_STREAM_TIME_BUDGET_MS,
      modelTimeoutMs: settings.ONBEHALF_MODEL_TIMEOUT_MS,
      modelMaxRetries: settings.ONBEHALF_MODEL_MAX_RETRIES,
      leaseMs: settings.ONBEHALF_LEASE_SECONDS * 1000,
      historyTokenBudget: settings.ONBEHALF_HISTORY_TOKEN_BUDGET,
      toolResultMaxBytes: settings.ONBEHALF_TOOL_RESULT_MAX_BYTES,
      systemPrompt: DEFAULT_SYSTEM_PROMPT,
    },
  };
});
