import { createHash } from 'node:crypto';

import { type Block, type CacheControl, type MessagesRequest, cacheControlOf, isRecord } from './validate';

/**
 * Token estimates and prompt-cache accounting for the Claude stand-in.
 *
 * Tokens are a deterministic estimate (a quarter of the characters, rounded up, per block).
 * The prompt is a sequence of blocks in the API's prefix order (tools, system, messages); a
 * `cache_control` breakpoint writes the hash of the prefix that ends at its block. A later
 * request reads the longest prefix already written that ends at one of its breakpoints or up
 * to 20 blocks before one (the API's lookback), for the same API key and model, while the
 * entry lives (5 minutes or 1 hour, refreshed on every read).
 */

export interface Usage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
  output_tokens: number;
  service_tier: 'standard';
}

/** Prefix hash → expiry (epoch ms). Plain data so it can be persisted with the stand-in's state. */
export type CacheEntries = Record<string, number>;

const LOOKBACK_BLOCKS = 20;
const TTL_MS: Record<CacheControl['ttl'], number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };
const MAX_ENTRIES = 10_000;

interface Unit {
  text: string;
  tokens: number;
  breakpoint: CacheControl | undefined;
}

/** Estimated tokens of a text. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Estimated output tokens of a response's content. */
export function outputTokens(content: readonly Block[]): number {
  return content.reduce((sum, block) => sum + estimateTokens(blockText(block)), 0);
}

/** Input tokens of a request as `count_tokens` reports them (no cache involved). */
export function inputTokens(request: MessagesRequest): number {
  return units(request).reduce((sum, u) => sum + u.tokens, 0);
}

/**
 * Splits the request's input tokens into uncached, cache-read and cache-written parts and
 * records the written prefixes in `entries` (mutated). `minTokens`: prefixes shorter than this
 * are not cached (the API's minimum cacheable length; 0 caches everything).
 */
export function accountInput(
  request: MessagesRequest,
  scope: string,
  entries: CacheEntries,
  options: { now: number; minTokens: number },
): Omit<Usage, 'output_tokens' | 'service_tier'> {
  const list = units(request);
  const cumulative: number[] = [];
  const hashes: string[] = [];
  let hash = sha256(`scope\u0000${scope}\u0000${request.model}`);
  let sum = 0;
  for (const unit of list) {
    sum += unit.tokens;
    hash = sha256(`${hash}\u0000${unit.text}`);
    cumulative.push(sum);
    hashes.push(hash);
  }
  const total = sum;
  const tokensAt = (i: number) => (i < 0 ? 0 : (cumulative[i] ?? 0));
  const live = (i: number) => {
    const key = hashes[i];
    const expiresAt = key === undefined ? undefined : entries[key];
    return expiresAt !== undefined && expiresAt > options.now;
  };

  const breakpoints = list.flatMap((unit, i) =>
    unit.breakpoint && tokensAt(i) >= options.minTokens ? [{ index: i, ttl: unit.breakpoint.ttl }] : [],
  );

  let readIndex = -1;
  for (const bp of breakpoints) {
    for (let i = bp.index; i >= Math.max(0, bp.index - LOOKBACK_BLOCKS); i--) {
      if (live(i)) {
        readIndex = Math.max(readIndex, i);
        break;
      }
    }
  }
  const read = tokensAt(readIndex);

  const creation = { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 };
  let covered = readIndex;
  for (const bp of breakpoints) {
    if (bp.index <= covered) continue;
    const written = tokensAt(bp.index) - tokensAt(covered);
    if (bp.ttl === '1h') creation.ephemeral_1h_input_tokens += written;
    else creation.ephemeral_5m_input_tokens += written;
    covered = bp.index;
  }
  const created = creation.ephemeral_5m_input_tokens + creation.ephemeral_1h_input_tokens;

  // Reads refresh the entry; every breakpoint (re)writes its prefix.
  const readKey = hashes[readIndex];
  if (readKey !== undefined) {
    const existing = entries[readKey] ?? 0;
    entries[readKey] = Math.max(existing, options.now + TTL_MS['5m']);
  }
  for (const bp of breakpoints) {
    const key = hashes[bp.index];
    if (key !== undefined) entries[key] = Math.max(entries[key] ?? 0, options.now + TTL_MS[bp.ttl]);
  }
  prune(entries, options.now);

  return {
    input_tokens: total - read - created,
    cache_creation_input_tokens: created,
    cache_read_input_tokens: read,
    cache_creation: creation,
  };
}

/** The prompt as blocks in prefix order, each with its breakpoint (the top-level one lands on the last). */
function units(request: MessagesRequest): Unit[] {
  const list: Unit[] = [];
  const push = (key: string, counted: string, source: Record<string, unknown>) => {
    list.push({ text: key, tokens: estimateTokens(counted), breakpoint: breakpointOf(source) });
  };
  for (const tool of request.tools) {
    const json = canonicalJson(withoutCacheControl(tool.raw));
    push(`tool\u0000${json}`, json, tool.raw);
  }
  for (const block of request.system) push(`system\u0000${blockKey(block)}`, blockText(block), block);
  for (const message of request.messages) {
    message.content.forEach((block, i) => {
      // A new message starts here: the same blocks split differently between turns are another prompt.
      const role = i === 0 ? `${message.role}\u0000` : '';
      push(`${role}${blockKey(block)}`, blockText(block), block);
    });
  }
  const last = list.at(-1);
  if (request.cacheControl && last && !last.breakpoint) last.breakpoint = request.cacheControl;
  return list;
}

/** A block's own breakpoint, or one set on a block inside a tool_result (it ends the same prefix). */
function breakpointOf(source: Record<string, unknown>): CacheControl | undefined {
  const own = cacheControlOf(source);
  if (own) return own;
  if (source.type === 'tool_result' && Array.isArray(source.content)) {
    for (const inner of source.content) {
      if (isRecord(inner)) {
        const cc = cacheControlOf(inner);
        if (cc) return cc;
      }
    }
  }
  return undefined;
}

/** What a block costs in tokens: its text, a tool call's name and input, a result's content. */
function blockText(block: Record<string, unknown>): string {
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' ? block.text : '';
    case 'tool_use':
      return `${String(block.name)}${canonicalJson(block.input ?? {})}`;
    case 'tool_result': {
      const content = block.content;
      if (typeof content === 'string') return content;
      if (!Array.isArray(content)) return '';
      return content
        .map((inner) => (isRecord(inner) && inner.type === 'text' && typeof inner.text === 'string' ? inner.text : canonicalJson(inner)))
        .join('\n');
    }
    default:
      return canonicalJson(withoutCacheControl(block));
  }
}

/** What identifies a block for the cache: everything but its cache_control. */
function blockKey(block: Block): string {
  return canonicalJson(withoutCacheControl(block));
}

function withoutCacheControl(value: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...value };
  delete copy.cache_control;
  if (copy.type === 'tool_result' && Array.isArray(copy.content)) {
    copy.content = copy.content.map((inner: unknown) => (isRecord(inner) ? withoutCacheControl(inner) : inner));
  }
  return copy;
}

function prune(entries: CacheEntries, now: number): void {
  for (const [key, expiresAt] of Object.entries(entries)) if (expiresAt <= now) delete entries[key];
  const keys = Object.keys(entries);
  if (keys.length <= MAX_ENTRIES) return;
  keys
    .sort((a, b) => (entries[a] ?? 0) - (entries[b] ?? 0))
    .slice(0, keys.length - MAX_ENTRIES)
    .forEach((key) => {
      delete entries[key];
    });
}

/** JSON with sorted keys and no `undefined`: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
