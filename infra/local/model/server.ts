import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';

import { type LocalService, listen, readBody, readState, sendJson, writeState } from '../service';
import { type CacheEntries, type Usage, accountInput, inputTokens, outputTokens } from './cache';
import { type PlannerBlock, type PlannerMessage, type PlannerTool, plan } from './planner';
import { type MessageBody, errorBody, errorTypeFor, newId, waitUnlessGone, writeSse } from './responses';
import { type Block, InvalidRequestError, type MessagesRequest, isRecord, parseMessagesRequest } from './validate';

/** The running Claude stand-in; `url` is the SDK's `baseURL` (no `/v1`, no trailing slash). */
export type ModelStandIn = LocalService;

export interface ModelOptions {
  port?: number;
  host?: string;
  /** Where scripts, latency and the prompt cache persist (`.data/model.json`); memory only without it. */
  stateFile?: string;
  /** The API's minimum cacheable prefix (tokens); shorter prefixes are not cached. Default 0. */
  minCacheableTokens?: number;
}

/** A scripted answer to requests whose first user message contains `match`. */
interface Script {
  match: string;
  turns: Turn[];
  /**
   * The context window its requests are held to (input tokens, as counted here): over it, the
   * request is refused as the API refuses a prompt that is too long. Default: none.
   */
  contextWindowTokens?: number;
}

/** A Messages API response body (missing fields are filled in), or an HTTP error to answer with. */
type Turn =
  | { kind: 'message'; body: Record<string, unknown> }
  | { kind: 'error'; status: number; body: unknown; headers: Record<string, string> };

interface ModelState {
  scripts: Script[];
  latencyMs: number;
  cache: CacheEntries;
}

const BODY_LIMIT = 32 * 1024 * 1024;
const MAX_LATENCY_MS = 10 * 60_000;

/**
 * Starts the local Claude stand-in: an Anthropic Messages API (`POST /v1/messages`, JSON or
 * SSE, `POST /v1/messages/count_tokens`) that validates requests like the real API, reports
 * prompt-cache usage, and answers from a `/_control/scripts` script or else the deterministic
 * planner (`planner.ts`). `/_control/latency` delays each model response: a JSON answer comes
 * after it, a streamed one sends `message_start` at once and spreads its events over it. A
 * request whose client goes away is answered no further; `GET /_control/requests` shows how
 * each Messages request ended (`answered` or `aborted`).
 */
export async function startModel(options: ModelOptions = {}): Promise<ModelStandIn> {
  const saved = readState<Partial<ModelState>>(options.stateFile);
  const state: ModelState = {
    scripts: Array.isArray(saved?.scripts) ? saved.scripts.filter(isScript) : [],
    latencyMs: typeof saved?.latencyMs === 'number' ? saved.latencyMs : 0,
    cache: isRecord(saved?.cache) ? (saved.cache as CacheEntries) : {},
  };
  const save = () => writeState(options.stateFile, state);
  /** Every Messages request, in order: whether it streamed and whether its client stayed to the end (memory only). */
  const requests: { seq: number; stream: boolean; outcome: 'pending' | 'answered' | 'aborted' }[] = [];
  const minTokens = options.minCacheableTokens ?? 0;

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, errorBody('api_error', 'Internal server error', newId('req_011C')));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://stand-in').pathname;
    if (path.startsWith('/_control/')) return control(req, res, path);

    const requestId = newId('req_011C');
    const fail = (status: number, type: string, message: string) =>
      sendJson(res, status, errorBody(type, message, requestId), { 'request-id': requestId });

    const isMessages = path === '/v1/messages';
    const isCount = path === '/v1/messages/count_tokens';
    if (!isMessages && !isCount) return fail(404, 'not_found_error', `Not found: ${req.method ?? ''} ${path}`);
    if (req.method !== 'POST') return fail(405, 'invalid_request_error', `Method ${req.method ?? ''} not allowed`);

    const apiKey = credentialOf(req);
    if (apiKey === undefined) return fail(401, 'authentication_error', 'x-api-key header is required');
    if (!req.headers['anthropic-version']) return fail(400, 'invalid_request_error', 'anthropic-version: header is required');

    let raw: string;
    try {
      raw = await readBody(req, BODY_LIMIT);
    } catch {
      return fail(413, 'request_too_large', 'Request exceeds the maximum allowed number of bytes.');
    }
    let body: unknown;
    try {
      body = JSON.parse(raw) as unknown;
    } catch {
      return fail(400, 'invalid_request_error', 'There was an issue with the formatting of your request body: invalid JSON');
    }

    let request: MessagesRequest;
    try {
      if (isCount) {
        if (isRecord(body) && ('max_tokens' in body || 'stream' in body)) {
          throw new InvalidRequestError(`${'max_tokens' in body ? 'max_tokens' : 'stream'}: Extra inputs are not permitted`);
        }
        request = parseMessagesRequest(isRecord(body) ? { ...body, max_tokens: 1 } : body);
      } else {
        request = parseMessagesRequest(body);
      }
    } catch (error) {
      if (error instanceof InvalidRequestError) return fail(400, 'invalid_request_error', error.message);
      throw error;
    }
    if (isCount) return sendJson(res, 200, { input_tokens: inputTokens(request) }, { 'request-id': requestId });

    const entry = { seq: requests.length + 1, stream: request.stream === true, outcome: 'pending' as 'pending' | 'answered' | 'aborted' };
    requests.push(entry);
    res.once('close', () => {
      entry.outcome = res.writableFinished ? 'answered' : 'aborted';
    });

    const script = scriptOf(request);
    const window = script?.contextWindowTokens;
    const tokens = window === undefined ? 0 : inputTokens(request);
    if (window !== undefined && tokens > window) {
      return fail(400, 'invalid_request_error', `prompt is too long: ${tokens} tokens > ${window} maximum`);
    }
    const turn = script?.turns[request.conversation.filter((m) => m.role === 'assistant').length];
    const streamed = request.stream === true && turn?.kind !== 'error';
    // A streamed answer spreads the latency over its events; anything else waits for all of it.
    if (state.latencyMs > 0 && !streamed) await waitUnlessGone(res, state.latencyMs);
    if (entry.outcome === 'aborted') return;

    if (turn?.kind === 'error') {
      const errorPayload = isRecord(turn.body)
        ? { ...turn.body, request_id: turn.body.request_id ?? requestId }
        : (turn.body ?? errorBody(errorTypeFor(turn.status), `Scripted ${turn.status} error`, requestId));
      return sendJson(res, turn.status, errorPayload, { ...turn.headers, 'request-id': requestId });
    }

    const input = accountInput(request, apiKey, state.cache, { now: Date.now(), minTokens });
    save();
    const message = turn ? fromScript(turn.body, request, input) : fromPlanner(request, input);
    if (request.stream) await writeSse(res, message, requestId, state.latencyMs);
    else sendJson(res, 200, message, { 'request-id': requestId });
  }

  /** The newest script whose match is in the first user message (its turn k answers after k assistant messages). */
  function scriptOf(request: MessagesRequest): Script | undefined {
    const first = request.conversation[0];
    const text = first ? textOf(first.content) : '';
    return [...state.scripts].reverse().find((s) => text.includes(s.match));
  }

  async function control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const invalid = (message: string) => sendJson(res, 400, { error: { code: 'validation_failed', message, details: [] } });
    const route = `${req.method ?? ''} ${path}`;
    let body: unknown;
    if (req.method === 'POST') {
      const raw = await readBody(req, BODY_LIMIT);
      if (raw.trim() !== '') {
        try {
          body = JSON.parse(raw) as unknown;
        } catch {
          return sendJson(res, 400, { error: { code: 'malformed_json', message: 'The body is not valid JSON.', details: [] } });
        }
      }
    }
    switch (route) {
      case 'POST /_control/scripts': {
        if (!isRecord(body) || typeof body.match !== 'string' || body.match === '') {
          return invalid('match must be a non-empty string');
        }
        if (!Array.isArray(body.turns)) return invalid('turns must be an array');
        const turns: Turn[] = [];
        for (const [i, value] of body.turns.entries()) {
          const turn = parseTurn(value);
          if (typeof turn === 'string') return invalid(`turns[${i}]: ${turn}`);
          turns.push(turn);
        }
        const window = body.contextWindowTokens;
        if (window !== undefined && !(typeof window === 'number' && Number.isInteger(window) && window > 0)) {
          return invalid('contextWindowTokens must be a positive integer');
        }
        state.scripts.push({ match: body.match, turns, ...(window === undefined ? {} : { contextWindowTokens: window }) });
        save();
        return sendJson(res, 200, { ok: true, scripts: state.scripts.length });
      }
      case 'GET /_control/scripts':
        return sendJson(res, 200, { scripts: state.scripts.map((s) => ({ match: s.match, turns: s.turns.length })) });
      case 'DELETE /_control/scripts': {
        const removed = state.scripts.length;
        state.scripts = [];
        save();
        return sendJson(res, 200, { ok: true, removed });
      }
      case 'POST /_control/latency': {
        const ms = isRecord(body) ? body.ms : undefined;
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_LATENCY_MS) {
          return invalid(`ms must be a number from 0 to ${MAX_LATENCY_MS}`);
        }
        state.latencyMs = ms;
        save();
        return sendJson(res, 200, { ok: true, ms });
      }
      case 'GET /_control/latency':
        return sendJson(res, 200, { ms: state.latencyMs });
      case 'GET /_control/requests':
        return sendJson(res, 200, { requests });
      case 'POST /_control/reset':
        state.scripts = [];
        state.latencyMs = 0;
        state.cache = {};
        requests.length = 0;
        save();
        return sendJson(res, 200, { ok: true });
      default:
        return sendJson(res, 404, { error: { code: 'not_found', message: `No control route ${route}.`, details: [] } });
    }
  }

  return listen(server, { port: options.port, host: options.host });
}

/** Fills what a scripted response leaves out: ids, model, stop reason, usage. */
function fromScript(turn: Record<string, unknown>, request: MessagesRequest, input: InputUsage): MessageBody {
  const content = (Array.isArray(turn.content) ? turn.content : []).filter(isRecord).map((block): Block => {
    const type = String(block.type);
    if (type === 'tool_use' && (typeof block.id !== 'string' || block.id === '')) {
      return { ...block, type, id: newId('toolu_01'), input: block.input ?? {} };
    }
    if (type === 'tool_use') return { ...block, type, input: block.input ?? {} };
    return { ...block, type };
  });
  const inferred = content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
  const stopReason = typeof turn.stop_reason === 'string' ? turn.stop_reason : inferred;
  const usage: MessageBody['usage'] = {
    ...input,
    output_tokens: outputTokens(content),
    service_tier: 'standard',
    ...(isRecord(turn.usage) ? turn.usage : {}),
  };
  return {
    ...turn,
    id: typeof turn.id === 'string' ? turn.id : newId('msg_01'),
    type: 'message',
    role: 'assistant',
    model: typeof turn.model === 'string' ? turn.model : request.model,
    content,
    stop_reason: stopReason,
    stop_sequence: typeof turn.stop_sequence === 'string' ? turn.stop_sequence : null,
    usage,
  };
}

type InputUsage = Omit<Usage, 'output_tokens' | 'service_tier'>;

/** Asks the planner, then applies what the API would: stop sequences and the max_tokens limit. */
function fromPlanner(request: MessagesRequest, input: InputUsage): MessageBody {
  const tools: PlannerTool[] =
    request.toolChoice.type === 'none'
      ? []
      : request.tools.flatMap((t) => (t.input_schema ? [{ name: t.name, input_schema: schemaOf(t.input_schema) }] : []));
  const planned = plan({
    messages: request.conversation.map(toPlannerMessage),
    tools,
    singleToolPerTurn: request.toolChoice.disableParallelToolUse,
  });

  let stopReason: string = planned.stopReason;
  let stopSequence: string | null = null;
  let budget = request.maxTokens;
  const content: Block[] = [];
  for (const block of planned.content) {
    if (block.type === 'text') {
      let text = block.text;
      const hit = firstStopSequence(text, request.stopSequences);
      if (hit) text = text.slice(0, hit.index);
      if (Math.ceil(text.length / 4) > budget) {
        text = text.slice(0, budget * 4);
        stopReason = 'max_tokens';
      } else if (hit) {
        stopReason = 'stop_sequence';
        stopSequence = hit.sequence;
      }
      if (text !== '') content.push({ type: 'text', text });
      budget -= Math.ceil(text.length / 4);
      if (stopReason === 'max_tokens' || stopReason === 'stop_sequence') break;
    } else {
      const toolUse: Block = { type: 'tool_use', id: newId('toolu_01'), name: block.name, input: block.input };
      if (outputTokens([toolUse]) > budget) {
        stopReason = 'max_tokens';
        break;
      }
      budget -= outputTokens([toolUse]);
      content.push(toolUse);
    }
  }
  return {
    id: newId('msg_01'),
    type: 'message',
    role: 'assistant',
    model: request.model,
    content,
    stop_reason: stopReason,
    stop_sequence: stopSequence,
    usage: { ...input, output_tokens: outputTokens(content), service_tier: 'standard' },
  };
}

function firstStopSequence(text: string, sequences: readonly string[]): { index: number; sequence: string } | undefined {
  let best: { index: number; sequence: string } | undefined;
  for (const sequence of sequences) {
    const index = text.indexOf(sequence);
    if (index >= 0 && (!best || index < best.index)) best = { index, sequence };
  }
  return best;
}

function toPlannerMessage(message: { role: 'user' | 'assistant'; content: Block[] }): PlannerMessage {
  return {
    role: message.role,
    content: message.content.map((block): PlannerBlock => {
      if (block.type === 'text' && typeof block.text === 'string') return { type: 'text', text: block.text };
      if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string') {
        return { type: 'tool_use', id: block.id, name: block.name, input: block.input };
      }
      if (block.type === 'tool_result' && typeof block.tool_use_id === 'string') {
        const content = block.content;
        return {
          type: 'tool_result',
          tool_use_id: block.tool_use_id,
          content:
            typeof content === 'string'
              ? content
              : Array.isArray(content)
                ? content.filter(isRecord).map((b) => ({
                    type: String(b.type),
                    ...(typeof b.text === 'string' ? { text: b.text } : {}),
                  }))
                : undefined,
          is_error: block.is_error === true,
        };
      }
      return { type: 'other' };
    }),
  };
}

function schemaOf(schema: Record<string, unknown>): PlannerTool['input_schema'] {
  const properties = isRecord(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : [];
  return { properties, required };
}

function parseTurn(value: unknown): Turn | string {
  if (!isRecord(value)) return 'a turn must be an object';
  if ('status' in value && !('content' in value)) {
    const status = value.status;
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
      return 'status must be an HTTP error status (400-599)';
    }
    const headers: Record<string, string> = {};
    if (isRecord(value.headers)) {
      for (const [k, v] of Object.entries(value.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    }
    return { kind: 'error', status, body: value.body, headers };
  }
  if (!Array.isArray(value.content)) return 'a response turn needs a content array';
  for (const block of value.content) {
    if (!isRecord(block) || typeof block.type !== 'string') return 'every content block needs a type';
    if (block.type === 'text' && typeof block.text !== 'string') return 'a text block needs text';
    if (block.type === 'tool_use' && (typeof block.name !== 'string' || (block.input !== undefined && !isRecord(block.input)))) {
      return 'a tool_use block needs a name and an object input';
    }
  }
  return { kind: 'message', body: value };
}

function isScript(value: unknown): value is Script {
  return isRecord(value) && typeof value.match === 'string' && Array.isArray(value.turns);
}

/** The caller's key: `x-api-key`, or `Authorization: Bearer <token>` as the SDK sends an auth token. */
function credentialOf(req: IncomingMessage): string | undefined {
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key.trim() !== '') return key.trim();
  const auth = req.headers.authorization;
  const match = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return match?.[1];
}

function textOf(content: readonly Block[]): string {
  return content.flatMap((b) => (b.type === 'text' && typeof b.text === 'string' ? [b.text] : [])).join('\n');
}
