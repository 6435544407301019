import type { User } from 'oidc-client-ts';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Api } from './api';
import type { Auth } from './auth';
import type { ConsoleConfig } from './config';
import { SessionContext } from './context';
import { ConnectionsPage } from './pages/connections';
import { ConversationPage } from './pages/conversation';
import { HomePage } from './pages/home';
import { VerifyPage } from './pages/verify';
import { Link, useLocation } from './router';

function SignInPage({ auth, ended }: { auth: Auth; ended: boolean }) {
  return (
    <main id="main" class="signin">
      <h1>onbehalf</h1>
      <p>Ask Claude about your Asana. It acts only as you, through your own connection.</p>
      {ended && <p role="status">Your session has ended.</p>}
      <button type="button" onClick={() => void auth.signIn(window.location.pathname + window.location.search)}>
        Sign in
      </button>
    </main>
  );
}

function Page({ path, query }: { path: string; query: URLSearchParams }) {
  if (path === '/') return <HomePage />;
  if (path === '/connections') return <ConnectionsPage />;
  if (path === '/connections/verify') return <VerifyPage query={query} />;
  const conversation = /^\/conversations\/([^/]+)$/.exec(path);
  if (conversation) return <ConversationPage id={decodeURIComponent(conversation[1]!)} />;
  return (
    <>
      <h1>Page not found</h1>
      <p>
        <Link href="/">Go to your conversations</Link>
      </p>
    </>
  );
}

/** The console: the sign-in page, or the signed-in pages with their navigation. */
export function App({ config, auth }: { config: ConsoleConfig; auth: Auth }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [ended, setEnded] = useState(false);
  const { path, query } = useLocation();
  const session = useMemo(
    () => ({
      api: new Api(config.apiUrl, auth),
      auth,
      signedOut: () => {
        setEnded(true);
        setUser(null);
      },
    }),
    [],
  );

  useEffect(() => {
    auth.user().then(setUser, () => setUser(null));
    const loaded = (next: User) => setUser(next);
    const unloaded = () => setUser(null);
    auth.manager.events.addUserLoaded(loaded);
    auth.manager.events.addUserUnloaded(unloaded);
    return () => {
      auth.manager.events.removeUserLoaded(loaded);
      auth.manager.events.removeUserUnloaded(unloaded);
    };
  }, []);

  if (user === undefined) return <main id="main" aria-busy="true" />;
  if (user === null) return <SignInPage auth={auth} ended={ended} />;
  const name = String(user.profile['cognito:username'] ?? user.profile.email ?? '');
  const section = path.startsWith('/connections') ? 'connections' : 'conversations';
  return (
    <SessionContext.Provider value={session}>
      <header class="top">
        <a class="skip" href="#main">
          Skip to content
        </a>
        <span class="brand">onbehalf</span>
        <nav aria-label="Main">
          <Link href="/" aria-current={section === 'conversations' ? 'page' : undefined}>
            Conversations
          </Link>
          <Link href="/connections" aria-current={section === 'connections' ? 'page' : undefined}>
            Connections
          </Link>
        </nav>
        <span class="who-am-i">{name}</span>
        <button type="button" class="secondary" onClick={() => void auth.signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        <Page path={path} query={query} />
      </main>
    </SessionContext.Provider>
  );
}
