import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Conversation, type PendingApproval, type RunEvents, type RunResult, SignedOut, type ToolCall } from '../api';
import { useSession, verifyUrl } from '../context';
import { renderMarkdown } from '../markdown';
import { Link, navigate } from '../router';
import { plainError, RETURN_KEY, RUN_STATUS_WORDS } from '../words';
import { Composer } from './composer';

let firstMessage: string | null = null;

/** Hands the home page's first message to the conversation page, which sends it. */
export function startNewConversation(message: string): void {
  firstMessage = message;
}

/** What the page shows of a run while it is under way. */
interface LiveRun {
  message: string | null;
  calls: ToolCall[];
  text: string;
}

type Entry = { kind: 'user'; text: string } | { kind: 'assistant'; text: string } | { kind: 'tool'; call: ToolCall };

/** The stored conversation as a list of things to show, tool calls in the place Claude made them. */
function entriesOf(conversation: Conversation): Entry[] {
  const calls = new Map(conversation.toolCalls.map((call) => [call.toolUseId, call]));
  const entries: Entry[] = [];
  for (const message of conversation.messages) {
    if (typeof message.content === 'string') {
      entries.push({ kind: message.role, text: message.content });
      continue;
    }
    for (const block of message.content) {
      if (block.type === 'text' && block.text) entries.push({ kind: message.role, text: block.text });
      if (block.type === 'tool_use' && block.id) {
        entries.push({
          kind: 'tool',
          call: calls.get(block.id) ?? { toolUseId: block.id, name: block.name ?? 'tool', input: block.input },
        });
      }
    }
  }
  return entries;
}

const OUTCOME_WORDS: Record<string, string> = {
  succeeded: 'done',
  failed: 'failed',
  denied: 'denied',
  unknown: 'result unknown',
};

function ToolCallItem({ call, pending }: { call: ToolCall; pending: boolean }) {
  const state = call.outcome ? OUTCOME_WORDS[call.outcome] : pending ? 'waiting for your approval' : 'running…';
  return (
    <li class={`tool outcome-${call.outcome ?? 'running'}`} data-testid="tool-call">
      <span class="tool-name">{call.name}</span> <span class="badge">{state}</span>
      {call.outcome && call.durationMs !== undefined && <span class="muted"> {call.durationMs} ms</span>}
      <details>
        <summary>Input</summary>
        <pre>{JSON.stringify(call.input, null, 2)}</pre>
      </details>
    </li>
  );
}

function Message({ entry }: { entry: Entry }) {
  if (entry.kind === 'tool') return null;
  if (entry.kind === 'user') {
    return (
      <div class="message user">
        <p class="who">You</p>
        <p class="text">{entry.text}</p>
      </div>
    );
  }
  return (
    <div class="message assistant" data-testid="reply">
      <p class="who">Claude</p>
      {/* Sanitised: raw HTML from Claude or Asana is never executed. */}
      <div class="markdown" dangerouslySetInnerHTML={{ __html: renderMarkdown(entry.text) }} />
    </div>
  );
}

/** Consecutive tool calls as one timeline, messages between them. */
function Transcript({ entries, pending }: { entries: Entry[]; pending: Set<string> }) {
  const groups: (Entry | ToolCall[])[] = [];
  for (const entry of entries) {
    const last = groups[groups.length - 1];
    if (entry.kind === 'tool') {
      if (Array.isArray(last)) last.push(entry.call);
      else groups.push([entry.call]);
    } else {
      groups.push(entry);
    }
  }
  return (
    <>
      {groups.map((group, i) =>
        Array.isArray(group) ? (
          <ol class="timeline" aria-label="Tool calls" key={`t${i}`}>
            {group.map((call) => (
              <ToolCallItem key={call.toolUseId} call={call} pending={pending.has(call.toolUseId)} />
            ))}
          </ol>
        ) : (
          <Message key={`m${i}`} entry={group} />
        ),
      )}
    </>
  );
}

function ApprovalCard({
  approval,
  disabled,
  decide,
}: {
  approval: PendingApproval;
  disabled: boolean;
  decide(decision: 'approve' | 'deny'): void;
}) {
  const headingId = `approval-${approval.toolUseId}`;
  return (
    <section class="approval" aria-labelledby={headingId} data-testid="approval">
      <h3 id={headingId}>
        Approve <code>{approval.name}</code>?
      </h3>
      <p>Claude wants to run this in Asana as you, with exactly this input:</p>
      <pre>{JSON.stringify(approval.input, null, 2)}</pre>
      <div class="actions">
        <button type="button" disabled={disabled} onClick={() => decide('approve')}>
          Approve
        </button>
        <button type="button" class="secondary" disabled={disabled} onClick={() => decide('deny')}>
          Deny
        </button>
      </div>
    </section>
  );
}

/** `/conversations/<id>` (or `new`): the transcript, the live run, approvals, resume and the message box. */
export function ConversationPage({ id }: { id: string }) {
  const { api, signedOut } = useSession();
  const [conversationId, setConversationId] = useState<string | null>(id === 'new' ? null : id);
  const [conversation, setConversation] = useState<Conversation | null>(null);
  const [live, setLive] = useState<LiveRun | null>(null);
  const [result, setResult] = useState<RunResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [missing, setMissing] = useState(false);
  /** Runs this page has seen to their end (exposed as `data-runs`, so a test can wait for the next one). */
  const [runs, setRuns] = useState(0);
  const busy = live !== null;
  const liveRef = useRef<LiveRun | null>(null);
  /** The id of the conversation this page created: its URL change is not a new page. */
  const createdRef = useRef<string | null>(null);

  const update = (change: (run: LiveRun) => LiveRun) => {
    if (!liveRef.current) return;
    liveRef.current = change(liveRef.current);
    setLive(liveRef.current);
  };

  const load = async (which: string) => {
    try {
      setConversation(await api.json<Conversation>('GET', `/conversations/${encodeURIComponent(which)}`));
    } catch (failure) {
      if (failure instanceof SignedOut) return signedOut();
      if (failure instanceof ApiError && failure.code === 'not_found') setMissing(true);
      else setError(plainError(failure));
    }
  };

  const run = async (path: string, body: Record<string, unknown>, message: string | null) => {
    setError(null);
    setResult(null);
    liveRef.current = { message, calls: [], text: '' };
    setLive(liveRef.current);
    let current = conversationId;
    const events: RunEvents = {
      onRun(newId) {
        if (current === null) {
          current = newId;
          createdRef.current = newId;
          setConversationId(newId);
          navigate(`/conversations/${encodeURIComponent(newId)}`, { replace: true });
        }
      },
      onText: (delta) => update((state) => ({ ...state, text: state.text + delta })),
      // A failed model call's partial text is dropped back to the last tool call.
      onTextReset: () => update((state) => ({ ...state, text: '' })),
      onToolCall: (call) =>
        update((state) => ({
          ...state,
          text: '',
          calls: [
            ...state.calls.filter((known) => known.toolUseId !== call.toolUseId),
            { toolUseId: call.toolUseId, name: call.name, input: call.input },
          ],
        })),
      onToolResult: (done) =>
        update((state) => ({
          ...state,
          calls: state.calls.map((call) =>
            call.toolUseId === done.toolUseId ? { ...call, outcome: done.outcome, durationMs: done.durationMs } : call,
          ),
        })),
    };
    try {
      const outcome = await api.run(path, { ...body, verifyUrl: verifyUrl() }, events);
      current = outcome.conversationId;
      setConversationId(current);
      setResult(outcome);
    } catch (failure) {
      if (failure instanceof SignedOut) return signedOut();
      if (failure instanceof ApiError && failure.conversationId && current === null) {
        current = failure.conversationId;
        createdRef.current = current;
        setConversationId(current);
        navigate(`/conversations/${encodeURIComponent(current)}`, { replace: true });
      }
      setError(plainError(failure));
    }
    if (current) await load(current);
    liveRef.current = null;
    setLive(null);
    setRuns((count) => count + 1);
  };

  useEffect(() => {
    if (id === 'new') {
      const message = firstMessage;
      firstMessage = null;
      if (message) void run('/conversations', { message }, message);
      else navigate('/', { replace: true });
      return;
    }
    // The URL changing to the id of the run this page started is not a new page.
    if (id === createdRef.current) return;
    setConversationId(id);
    setConversation(null);
    setResult(null);
    setMissing(false);
    void load(id);
  }, [id]);

  if (missing) {
    return (
      <>
        <h1>Conversation not found</h1>
        <p>There is no such conversation, or it is not yours.</p>
        <p>
          <Link href="/">Back to conversations</Link>
        </p>
      </>
    );
  }

  const status = conversation?.status ?? result?.status;
  const pendingApprovals = busy ? [] : (conversation?.pendingApprovals ?? result?.pendingApprovals ?? []);
  const pending = new Set(pendingApprovals.map((approval) => approval.toolUseId));
  const entries = conversation ? entriesOf(conversation) : [];
  const known = new Set(entries.flatMap((entry) => (entry.kind === 'tool' ? [entry.call.toolUseId] : [])));
  const path = conversationId ? `/conversations/${encodeURIComponent(conversationId)}` : null;
  const authorizationUrl = !busy && status === 'needs_authorization' ? (result?.authorizationUrl ?? null) : null;

  return (
    <>
      <p class="crumbs">
        <Link href="/">← Conversations</Link>
      </p>
      <h1>{conversation?.title || (live?.message ?? 'Conversation')}</h1>
      {status && !busy && <p class={`badge status-${status}`}>{RUN_STATUS_WORDS[status] ?? status}</p>}
      <div class="transcript" aria-live="polite" aria-busy={busy} data-runs={runs}>
        <Transcript entries={entries} pending={pending} />
        {live && (
          <>
            {live.message &&
              !entries.some((entry, i) => entry.kind === 'user' && i === entries.length - 1 && entry.text === live.message) && (
                <Message entry={{ kind: 'user', text: live.message }} />
              )}
            {live.calls.length > 0 && (
              <ol class="timeline live" aria-label="Tool calls">
                {live.calls
                  .filter((call) => !known.has(call.toolUseId) || call.outcome)
                  .map((call) => (
                    <ToolCallItem key={call.toolUseId} call={call} pending={false} />
                  ))}
              </ol>
            )}
            {live.text ? <Message entry={{ kind: 'assistant', text: live.text }} /> : <p class="muted working">Working…</p>}
          </>
        )}
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {result?.truncated && !busy && <p class="muted">The reply was cut short (it reached its length limit).</p>}
      {pendingApprovals.map((approval) => (
        <ApprovalCard
          key={approval.toolUseId}
          approval={approval}
          disabled={busy}
          decide={(decision) => path && void run(`${path}/approvals`, { toolUseId: approval.toolUseId, decision }, null)}
        />
      ))}
      {!busy && status === 'needs_authorization' && (
        <section class="notice" aria-labelledby="needs-auth">
          <h2 id="needs-auth">Connect your account to continue</h2>
          {authorizationUrl ? (
            <p>
              Claude needs your connection to Asana, which is not active.{' '}
              <a
                href={authorizationUrl}
                data-testid="authorization-link"
                onClick={() => {
                  if (path) window.sessionStorage.setItem(RETURN_KEY, path);
                }}
              >
                Connect Asana
              </a>
              , then come back and resume.
            </p>
          ) : (
            <p>
              Your connection is not active. Connect it on the <Link href="/connections">Connections</Link> page, then resume.
            </p>
          )}
          <button type="button" onClick={() => path && void run(`${path}/resume`, {}, null)}>
            Resume
          </button>
        </section>
      )}
      {!busy && status === 'in_progress' && (
        <section class="notice" aria-labelledby="in-progress">
          <h2 id="in-progress">This run stopped part-way</h2>
          <p>It used up its time or step budget before Claude finished. Resume to let it continue where it stopped.</p>
          <button type="button" onClick={() => path && void run(`${path}/resume`, {}, null)}>
            Resume
          </button>
        </section>
      )}
      <Composer
        label="Your message"
        disabled={busy || (status !== undefined && status !== 'completed')}
        hint={status !== undefined && status !== 'completed' && !busy ? 'Finish the step above before sending a new message.' : undefined}
        onSend={(message) => {
          if (path) void run(`${path}/messages`, { message }, message);
        }}
      />
    </>
  );
}
