import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api';
import type { Auth } from './auth';

export interface Session {
  api: Api;
  auth: Auth;
  /** Called when the API says the session is over. */
  signedOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('no session');
  return session;
}

/** Where the browser lands after consent: the console's own verify page. */
export const verifyUrl = () => `${window.location.origin}/connections/verify`;
