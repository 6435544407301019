import { useEffect, useState } from 'preact/hooks';
import { ApiError, type ConversationSummary, SignedOut, type Usage } from '../api';
import { useSession } from '../context';
import { Link, navigate } from '../router';
import { plainError, RUN_STATUS_WORDS } from '../words';
import { Composer } from './composer';
import { startNewConversation } from './conversation';

/** `/`: the caller's conversations, newest first, a new chat, and the day's usage. */
export function HomePage() {
  const { api, signedOut } = useSession();
  const [conversations, setConversations] = useState<ConversationSummary[] | null>(null);
  const [nextToken, setNextToken] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = async (after?: string) => {
    try {
      const query = after ? `?limit=25&nextToken=${encodeURIComponent(after)}` : '?limit=25';
      const page = await api.json<{ conversations: ConversationSummary[]; nextToken: string | null }>('GET', `/conversations${query}`);
      setConversations((previous) => (after && previous ? [...previous, ...page.conversations] : page.conversations));
      setNextToken(page.nextToken);
    } catch (failure) {
      if (failure instanceof SignedOut) return signedOut();
      setError(plainError(failure));
    }
  };
  useEffect(() => void load(), []);

  return (
    <>
      <h1>Conversations</h1>
      <section aria-labelledby="new-chat">
        <h2 id="new-chat">New chat</h2>
        <Composer
          label="Ask about your Asana"
          placeholder="What's in the Website Redesign project?"
          onSend={(message) => {
            startNewConversation(message);
            navigate('/conversations/new');
          }}
        />
      </section>
      <section aria-labelledby="history">
        <h2 id="history">Your conversations</h2>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {conversations === null && !error && <p>Loading…</p>}
        {conversations?.length === 0 && <p>No conversations yet. Ask something above.</p>}
        {conversations && conversations.length > 0 && (
          <ul class="conversations">
            {conversations.map((conversation) => (
              <li key={conversation.conversationId}>
                <Link href={`/conversations/${encodeURIComponent(conversation.conversationId)}`}>{conversation.title || 'Untitled'}</Link>
                <span class={`badge status-${conversation.status}`}>{RUN_STATUS_WORDS[conversation.status] ?? conversation.status}</span>
                <time dateTime={conversation.updatedAt}>{new Date(conversation.updatedAt).toLocaleString()}</time>
              </li>
            ))}
          </ul>
        )}
        {nextToken && (
          <button type="button" class="secondary" onClick={() => void load(nextToken)}>
            Show older
          </button>
        )}
      </section>
      <UsagePanel />
    </>
  );
}

/** The caller's figures for today (`GET /usage`); nothing at all when the deployment has no such route. */
function UsagePanel() {
  const { api } = useSession();
  const [usage, setUsage] = useState<Usage | null>(null);
  useEffect(() => {
    api.json<Usage>('GET', '/usage').then(setUsage, (error: unknown) => {
      // 404/501: this deployment does not report usage; any other failure is not worth a banner here.
      if (!(error instanceof ApiError)) return;
    });
  }, []);
  if (!usage) return null;
  const used = usage.tokens.inputTokens + usage.tokens.outputTokens + usage.tokens.cacheCreationInputTokens;
  const share = usage.limits.dailyTokens > 0 ? Math.min(100, Math.round((used / usage.limits.dailyTokens) * 100)) : 0;
  return (
    <section aria-labelledby="usage" class="usage">
      <h2 id="usage">Your usage today</h2>
      <dl>
        <dt>Requests</dt>
        <dd>
          {usage.requests.toLocaleString()} <span class="muted">(at most {usage.limits.requestsPerMinute} a minute)</span>
        </dd>
        <dt>Model tokens</dt>
        <dd>
          {used.toLocaleString()} of {usage.limits.dailyTokens.toLocaleString()} ({share}%)
        </dd>
      </dl>
      <p class="muted">Day {usage.day} (UTC).</p>
    </section>
  );
}
