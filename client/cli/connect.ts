import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsentError, completeConsent } from '../consent';
import type { ApiClient } from './api';
import { type Account, connectResultSchema, verifyResultSchema } from './contract';
import { CliError, ExitCode, networkReason, UsageError } from './errors';
import type { Output } from './output';

/** What the browser brought back to the loopback verify URL. */
export interface Landing {
  readonly authRequestId?: string;
  readonly state?: string;
  /** Set when the provider sent an error instead (`?error=access_denied`, …). */
  readonly error?: string;
  /** Answers the waiting browser tab (it is held open until the CLI knows how verify went). */
  answer(ok: boolean, text: string): void;
}

/**
 * The native client's redirect target (RFC 8252): `http://127.0.0.1:<random port>/callback`,
 * served by the CLI itself. Each landing with `auth_request_id` and `state` (or `error`) is
 * handed to one {@link next}; its tab waits for the verdict, then shows a small page. A repeat
 * of a state already seen (a reloaded tab) is not handed on again.
 */
export class LoopbackCallback {
  /** A landing that arrived before anyone waited for it. */
  private pending: Landing | undefined;
  private waiter: ((landing: Landing) => void) | undefined;
  private readonly seen = new Set<string>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Listens on `127.0.0.1:<port>` (0: a free port). */
  static async start(port = 0): Promise<LoopbackCallback> {
    let self: LoopbackCallback | undefined;
    const server = createServer((req, res) => self?.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new CliError(
            'callback_port_unavailable',
            `Cannot listen on 127.0.0.1:${port} for the browser's redirect (${error.code ?? error.message}).`,
            ExitCode.usage,
          ),
        ),
      );
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    self = new LoopbackCallback(server, `http://127.0.0.1:${bound}/callback`);
    return self;
  }

  /** Whether a URL is this callback (so a walker can stop there). */
  isCallback(url: URL): boolean {
    return `${url.origin}${url.pathname}` === this.url;
  }

  /** The next landing, or a `CliError` (exit 5) when none comes within `timeoutMs`. */
  next(timeoutMs: number): Promise<Landing> {
    const arrived = this.pending;
    if (arrived) {
      this.pending = undefined;
      return Promise.resolve(arrived);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(
          new CliError(
            'authorization_incomplete',
            `The browser did not come back within ${Math.round(timeoutMs / 1000)} s.`,
            ExitCode.incomplete,
            'Run the command again for a fresh link (--wait <seconds> waits longer).',
          ),
        );
      }, timeoutMs);
      this.waiter = (landing) => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(landing);
      };
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method !== 'GET' || !this.isCallback(url)) return page(res, 404, 'Not found', 'Nothing here.');
    const authRequestId = url.searchParams.get('auth_request_id') ?? undefined;
    const state = url.searchParams.get('state') ?? undefined;
    const error = url.searchParams.get('error') ?? undefined;
    if (error === undefined && (authRequestId === undefined || state === undefined)) {
      return page(res, 400, 'Not a sign-in answer', 'This address expects auth_request_id and state.');
    }
    const key = state ?? `error:${error}`;
    if (this.pending || this.seen.has(key))
      return page(res, 409, 'Already handled', 'This sign-in was already handled; look at your terminal.');
    this.seen.add(key);
    let answered = false;
    const landing: Landing = {
      authRequestId,
      state,
      error: error === undefined ? undefined : [error, url.searchParams.get('error_description')].filter(Boolean).join(': '),
      answer: (ok, text) => {
        if (answered) return;
        answered = true;
        page(res, ok ? 200 : 400, ok ? 'Connected' : 'Not connected', `${text} You can close this tab.`);
      },
    };
    if (this.waiter) this.waiter(landing);
    else this.pending = landing;
  }
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(
    `<!doctype html><meta charset="utf-8"><title>onbehalf: ${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`,
  );
}

/** What connecting needs besides the API. */
export interface ConnectContext {
  readonly api: ApiClient;
  readonly output: Output;
  readonly callback: LoopbackCallback;
  /** Set for `--auto-consent`: the local Asana account to consent as. */
  readonly autoConsent?: { readonly email: string; readonly password: string };
  readonly waitMs: number;
}

/** `connect`: the account when already ACTIVE, else the whole authorization and verify. */
export async function connect(ctx: ConnectContext, connection: string): Promise<Account | null> {
  const started = await ctx.api.call('POST', `/connections/${encodeURIComponent(connection)}`, connectResultSchema, {
    verifyUrl: ctx.callback.url,
  });
  ctx.output.result(started.raw);
  if (started.body.status === 'ACTIVE') {
    ctx.output.say(`${label(connection)} is already connected${as(started.body.account ?? null)}.`);
    return started.body.account ?? null;
  }
  if (!started.body.authorizationUrl) {
    throw new CliError('unexpected_response', `The API answered ${started.body.status} without an authorization link.`, ExitCode.failed);
  }
  return authorize(ctx, connection, started.body.authorizationUrl, { printVerify: true });
}

/**
 * Takes the user through an authorization link: prints it, walks it over HTTP for
 * `--auto-consent` or waits for the browser at the loopback callback, then calls verify and
 * tells the browser tab how it went. Returns the account the connection now acts as.
 * `printVerify`: the verify answer is a `--json` result (for `connect`, not inside a chat).
 */
export async function authorize(
  ctx: ConnectContext,
  connection: string,
  authorizationUrl: string,
  options: { printVerify?: boolean } = {},
): Promise<Account | null> {
  ctx.output.say(`Authorize ${label(connection)}: ${authorizationUrl}`);
  let selfVisit: Promise<unknown> = Promise.resolve();
  let direct: URL | undefined;
  if (ctx.autoConsent) {
    const landing = await consentOverHttp(authorizationUrl, ctx.autoConsent, ctx.callback);
    // Land on our own callback as a browser would, so both paths verify the same way.
    if (ctx.callback.isCallback(landing))
      selfVisit = fetch(landing)
        .then((response) => response.text())
        .catch(() => undefined);
    else direct = landing;
  } else {
    ctx.output.note(`Open that link in a browser; waiting for it to come back to ${ctx.callback.url} …`);
  }

  const landing: Landing = direct
    ? {
        authRequestId: direct.searchParams.get('auth_request_id') ?? undefined,
        state: direct.searchParams.get('state') ?? undefined,
        answer: () => undefined,
      }
    : await ctx.callback.next(ctx.waitMs);
  if (landing.error !== undefined || landing.authRequestId === undefined || landing.state === undefined) {
    landing.answer(false, `${label(connection)} was not connected (${landing.error ?? 'incomplete answer'}).`);
    await selfVisit;
    throw new CliError(
      'authorization_incomplete',
      `${label(connection)} did not authorize: ${landing.error ?? 'incomplete answer'}.`,
      ExitCode.incomplete,
    );
  }
  try {
    const verified = await ctx.api.call('POST', `/connections/${encodeURIComponent(connection)}/verify`, verifyResultSchema, {
      authRequestId: landing.authRequestId,
      state: landing.state,
    });
    landing.answer(true, `${label(connection)} is connected${as(verified.body.account)}.`);
    await selfVisit;
    if (options.printVerify) ctx.output.result(verified.raw);
    ctx.output.say(`Connected to ${label(connection)}${as(verified.body.account)}.`);
    return verified.body.account;
  } catch (error) {
    landing.answer(false, `Connecting ${label(connection)} failed${error instanceof Error ? `: ${error.message}` : ''}.`);
    await selfVisit;
    throw error;
  }
}

async function consentOverHttp(url: string, asanaUser: { email: string; password: string }, callback: LoopbackCallback): Promise<URL> {
  try {
    return await completeConsent(url, {
      email: asanaUser.email,
      password: asanaUser.password,
      stopAt: (target) => callback.isCallback(target),
    });
  } catch (error) {
    if (!(error instanceof ConsentError)) {
      const reason = networkReason(error) ?? (error instanceof Error ? error.message : String(error));
      throw new CliError('consent_failed', `Could not follow the authorization link (${reason}).`, ExitCode.unreachable);
    }
    if (error.status === 401) {
      throw new CliError('consent_failed', `The local Asana refused ${asanaUser.email}: wrong email or password.`, ExitCode.auth);
    }
    throw new CliError(
      'consent_failed',
      `--auto-consent could not finish: ${error.message}.`,
      ExitCode.failed,
      'Is this the local stack? --auto-consent only knows the local Asana consent form.',
    );
  }
}

/** `asana` → `Asana`. */
export function label(connection: string): string {
  return connection.charAt(0).toUpperCase() + connection.slice(1);
}

/** ` as Alice Ng <alice@acme.test>`, or nothing without an account. */
export function as(account: Account | null): string {
  return account ? ` as ${account.name}${account.email ? ` <${account.email}>` : ''}` : '';
}

/** The local Asana account for `--auto-consent`, or a usage error when there is none. */
export function autoConsentUser(
  wanted: boolean,
  asanaUser: { email: string; password: string } | undefined,
): { email: string; password: string } | undefined {
  if (!wanted) return undefined;
  if (!asanaUser) throw new UsageError('--auto-consent works only on the local stack.');
  return asanaUser;
}
