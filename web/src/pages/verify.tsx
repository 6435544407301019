import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Account, type Connection, SignedOut } from '../api';
import { useSession } from '../context';
import { Link, navigate } from '../router';
import { CONNECTING_KEY, connectionLabel, plainError, RETURN_KEY } from '../words';

type VerifyState =
  | { kind: 'working' }
  | { kind: 'done'; connection: string; account: Account | null }
  | { kind: 'failed'; message: string; retry: boolean };

/**
 * `/connections/verify`: where the browser lands after consent. Sends `auth_request_id` and
 * `state` to verify as the signed-in user and shows the pinned account, or why it failed.
 */
export function VerifyPage({ query }: { query: URLSearchParams }) {
  const { api, signedOut } = useSession();
  const [state, setState] = useState<VerifyState>({ kind: 'working' });
  const started = useRef(false);
  const params = useRef({ authRequestId: query.get('auth_request_id') ?? '', state: query.get('state') ?? '' });
  const stored = window.sessionStorage.getItem(RETURN_KEY);
  const returnTo = stored?.startsWith('/') && !stored.startsWith('//') ? stored : null;

  const verify = async () => {
    setState({ kind: 'working' });
    const { authRequestId, state: linkState } = params.current;
    if (!authRequestId || !linkState) {
      setState({
        kind: 'failed',
        message: 'This page needs the link Asana sent you back with. Start connecting from the Connections page.',
        retry: false,
      });
      return;
    }
    try {
      let name = window.sessionStorage.getItem(CONNECTING_KEY);
      if (!name) {
        // Started elsewhere (a chat's link): with one configured connection there is no doubt which.
        const { connections } = await api.json<{ connections: Connection[] }>('GET', '/connections');
        if (connections.length !== 1) {
          setState({ kind: 'failed', message: 'Start connecting from the Connections page.', retry: false });
          return;
        }
        name = connections[0]!.connection;
      }
      const answer = await api.json<{ connection: string; account: Account | null }>(
        'POST',
        `/connections/${encodeURIComponent(name)}/verify`,
        {
          authRequestId,
          state: linkState,
        },
      );
      window.sessionStorage.removeItem(CONNECTING_KEY);
      // The one-time values have done their job: keep them out of the history.
      navigate('/connections/verify', { replace: true });
      setState({ kind: 'done', connection: answer.connection, account: answer.account });
    } catch (failure) {
      if (failure instanceof SignedOut) return signedOut();
      const retry = failure instanceof ApiError ? failure.status >= 500 : true;
      setState({ kind: 'failed', message: plainError(failure), retry });
    }
  };

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void verify();
  }, []);

  return (
    <>
      <h1>Finishing your connection</h1>
      {state.kind === 'working' && <p role="status">Checking the link…</p>}
      {state.kind === 'done' && (
        <section class="card" aria-labelledby="connected">
          <h2 id="connected">{connectionLabel(state.connection)} is connected</h2>
          {state.account && (
            <p data-testid="pinned-account">
              Claude will act as <strong>{state.account.name}</strong> <span class="muted">({state.account.email})</span>, and only as that
              account.
            </p>
          )}
          <p>
            {returnTo && returnTo !== '/connections' ? (
              <Link href={returnTo}>Back to your conversation</Link>
            ) : (
              <Link href="/">Start a conversation</Link>
            )}
            {' · '}
            <Link href="/connections">Connections</Link>
          </p>
        </section>
      )}
      {state.kind === 'failed' && (
        <section class="card" aria-labelledby="failed">
          <h2 id="failed">Not connected</h2>
          <p role="alert" class="error">
            {state.message}
          </p>
          <p>
            {state.retry && (
              <button type="button" onClick={() => void verify()}>
                Try again
              </button>
            )}{' '}
            <Link href="/connections">Connections</Link>
          </p>
        </section>
      )}
    </>
  );
}
