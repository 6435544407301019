/**
 * A plain-`fetch` walker for the consent hops of docs/local-stack.md: follows `302`s, fills in the Asana
 * emulator's consent form, and returns where the chain ends — no JavaScript, no cookies.
 */

/** Options of {@link completeConsent}. */
export interface ConsentOptions {
  readonly email: string;
  readonly password: string;
  /** `read`: the read-only choice of the form; `write` (default): read-write. */
  readonly scope?: 'read' | 'write';
  /** Stop at this redirect target (returned, never fetched) when it answers true. */
  readonly stopAt?: (url: URL) => boolean;
  /** Hops allowed before giving up; default 20. */
  readonly maxHops?: number;
}

/** A hop answered something other than a redirect or the consent form (a `401` for a wrong password, …). */
export class ConsentError extends Error {
  override name = 'ConsentError';
  constructor(
    message: string,
    readonly status: number,
    readonly url: string,
    readonly body: string,
  ) {
    super(message);
  }
}

interface ConsentForm {
  readonly action: URL;
  readonly hidden: [string, string][];
  readonly scopes: string[];
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Walks an authorization link to its end. Every hop is fetched with `redirect: 'manual'`; a `302`
 * is followed; the one HTML page with the consent form is answered with `email`, `password` and
 * the chosen scope, posted to the form's action. It stops — returning the redirect target
 * without fetching it — at a target carrying `auth_request_id` (the verify URL of the flow) or
 * one `stopAt` accepts. Anything else (a `401` for a wrong password, a `4xx`/`5xx`, a page
 * without the form, too many hops) throws a {@link ConsentError} with the status and body.
 */
export async function completeConsent(startUrl: string, opts: ConsentOptions): Promise<URL> {
  const shouldStop = (url: URL): boolean => url.searchParams.has('auth_request_id') || (opts.stopAt?.(url) ?? false);
  let response = await fetch(startUrl, { redirect: 'manual' });
  let url = new URL(startUrl);
  for (let hop = 0; hop < (opts.maxHops ?? 20); hop++) {
    if (REDIRECTS.has(response.status)) {
      const location = response.headers.get('location');
      await response.body?.cancel();
      if (!location) throw new ConsentError(`redirect without a Location from ${url}`, response.status, url.toString(), '');
      const target = new URL(location, url);
      if (shouldStop(target)) return target;
      url = target;
      response = await fetch(url, { redirect: 'manual' });
      continue;
    }
    const body = await response.text();
    const form = response.status === 200 ? parseConsentForm(body, url) : undefined;
    if (!form) throw new ConsentError(`unexpected ${response.status} from ${url}`, response.status, url.toString(), body);
    const fields = new URLSearchParams(form.hidden);
    fields.set('email', opts.email);
    fields.set('password', opts.password);
    fields.set('scope', chooseScope(form.scopes, opts.scope ?? 'write', url, body));
    response = await fetch(form.action, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields.toString(),
    });
    if (!REDIRECTS.has(response.status)) {
      const text = await response.text();
      const why = response.status === 401 ? 'wrong email or password' : `unexpected ${response.status}`;
      throw new ConsentError(`consent form at ${url}: ${why}`, response.status, form.action.toString(), text);
    }
    url = form.action;
  }
  throw new ConsentError(`gave up after ${opts.maxHops ?? 20} hops at ${url}`, 0, url.toString(), '');
}

/** The page's single `<form>` (hidden inputs and `scope` radio values), or `undefined` without exactly one. */
function parseConsentForm(html: string, pageUrl: URL): ConsentForm | undefined {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
  const match = forms[0];
  if (forms.length !== 1 || !match) return undefined;
  const formAttributes = attributes(match[1] ?? '');
  if ((formAttributes.get('method') ?? 'get').toLowerCase() !== 'post') return undefined;
  const hidden: [string, string][] = [];
  const scopes: string[] = [];
  for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
    const attrs = attributes(input[1] ?? '');
    const name = attrs.get('name');
    const type = (attrs.get('type') ?? 'text').toLowerCase();
    if (name === undefined) continue;
    if (type === 'hidden') hidden.push([name, attrs.get('value') ?? '']);
    else if (type === 'radio' && name === 'scope') scopes.push(attrs.get('value') ?? '');
  }
  return { action: new URL(formAttributes.get('action') ?? pageUrl.toString(), pageUrl), hidden, scopes };
}

/** The write choice is the one granting `:write` scopes; the read choice the one without. */
function chooseScope(choices: string[], wanted: 'read' | 'write', url: URL, body: string): string {
  const writes = (choice: string): boolean => choice.split(/\s+/).some((s) => s.endsWith(':write'));
  const choice = choices.find((c) => writes(c) === (wanted === 'write'));
  if (choice === undefined) throw new ConsentError(`consent form at ${url} offers no ${wanted} choice`, 200, url.toString(), body);
  return choice;
}

/** Double-quoted attributes of a tag (docs/local-stack.md promises double quotes), HTML-unescaped. */
function attributes(tag: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const [, name, value] of tag.matchAll(/([\w:-]+)\s*=\s*"([^"]*)"/g)) {
    if (name !== undefined) found.set(name.toLowerCase(), unescapeHtml(value ?? ''));
  }
  return found;
}

function unescapeHtml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (entity, code: string) => {
    if (code.startsWith('#x') || code.startsWith('#X')) return String.fromCodePoint(parseInt(code.slice(2), 16));
    if (code.startsWith('#')) return String.fromCodePoint(Number(code.slice(1)));
    return named[code.toLowerCase()] ?? entity;
  });
}
