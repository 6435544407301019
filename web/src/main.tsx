import { render } from 'preact';
import { App } from './app';
import { Auth, CALLBACK_PATH } from './auth';
import { loadConfig } from './config';
import './styles.css';

async function start(root: HTMLElement): Promise<void> {
  const config = await loadConfig();
  const auth = new Auth(config);
  if (window.location.pathname === CALLBACK_PATH) {
    try {
      window.history.replaceState(null, '', await auth.completeSignIn());
    } catch {
      // A stale or replayed callback: start over from the sign-in page.
      window.history.replaceState(null, '', '/');
    }
  }
  render(<App config={config} auth={auth} />, root);
}

const root = document.getElementById('app')!;
start(root).catch((error: unknown) => {
  root.textContent = '';
  const main = document.createElement('main');
  const heading = document.createElement('h1');
  heading.textContent = 'The console could not start';
  const text = document.createElement('p');
  text.textContent = error instanceof Error ? error.message : String(error);
  main.append(heading, text);
  root.append(main);
});
