import { useEffect, useState } from 'preact/hooks';
import { type Connection, SignedOut } from '../api';
import { useSession, verifyUrl } from '../context';
import { CONNECTING_KEY, connectionLabel, plainError, RETURN_KEY, STATUS_WORDS } from '../words';

interface ConnectAnswer {
  connection: string;
  status: Connection['status'];
  authorizationUrl?: string;
}

/** `/connections`: each configured connection, its status and pinned account; connect and disconnect. */
export function ConnectionsPage() {
  const { api, signedOut } = useSession();
  const [connections, setConnections] = useState<Connection[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [working, setWorking] = useState<string | null>(null);

  const load = async () => {
    try {
      setConnections((await api.json<{ connections: Connection[] }>('GET', '/connections')).connections);
    } catch (failure) {
      if (failure instanceof SignedOut) return signedOut();
      setError(plainError(failure));
    }
  };
  useEffect(() => void load(), []);

  const act = async (name: string, action: () => Promise<void>) => {
    setWorking(name);
    setError(null);
    try {
      await action();
    } catch (failure) {
      if (failure instanceof SignedOut) return signedOut();
      setError(plainError(failure));
    } finally {
      setWorking(null);
    }
  };

  const connect = (name: string) =>
    act(name, async () => {
      const answer = await api.json<ConnectAnswer>('POST', `/connections/${encodeURIComponent(name)}`, { verifyUrl: verifyUrl() });
      if (answer.status !== 'ACTIVE' && answer.authorizationUrl) {
        window.sessionStorage.setItem(CONNECTING_KEY, name);
        window.sessionStorage.setItem(RETURN_KEY, '/connections');
        window.location.assign(answer.authorizationUrl);
        return;
      }
      await load();
    });

  const disconnect = (name: string) =>
    act(name, async () => {
      await api.json<void>('DELETE', `/connections/${encodeURIComponent(name)}`);
      await load();
    });

  return (
    <>
      <h1>Connections</h1>
      <p>Claude acts in these services as you, through your own account. Only you can connect or disconnect them.</p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {connections === null && !error && <p>Loading…</p>}
      {connections && (
        <ul class="connections">
          {connections.map((connection) => (
            <li key={connection.connection} class="card" data-testid={`connection-${connection.connection}`}>
              <h2>{connectionLabel(connection.connection)}</h2>
              <p>
                <span class={`badge connection-${connection.status}`}>{STATUS_WORDS[connection.status] ?? connection.status}</span>
              </p>
              {connection.account && (
                <p class="account">
                  Account: <strong>{connection.account.name}</strong> <span class="muted">{connection.account.email}</span>
                </p>
              )}
              {connection.checkedAt && <p class="muted">Checked {new Date(connection.checkedAt).toLocaleString()}</p>}
              <div class="actions">
                {connection.status !== 'ACTIVE' && (
                  <button type="button" disabled={working !== null} onClick={() => void connect(connection.connection)}>
                    {connection.status === 'NOT_CONNECTED' ? 'Connect' : 'Connect again'}
                  </button>
                )}
                {connection.status !== 'NOT_CONNECTED' && (
                  <button
                    type="button"
                    class="secondary"
                    disabled={working !== null}
                    onClick={() => void disconnect(connection.connection)}
                  >
                    Disconnect
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
