import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

import type { Usage } from './cache';
import { type Block, isRecord } from './validate';

/** A Messages API response body (`type: "message"`). */
export interface MessageBody {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Block[];
  stop_reason: string | null;
  stop_sequence: string | null;
  usage: Usage & Record<string, unknown>;
  [key: string]: unknown;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** An id in the API's style: `msg_01…`, `toolu_01…`, `req_011C…`. */
export function newId(prefix: 'msg_01' | 'toolu_01' | 'req_011C'): string {
  const bytes = randomBytes(22);
  let id = prefix;
  for (const byte of bytes) id += BASE62[byte % 62];
  return id;
}

/** The API's error body. */
export function errorBody(type: string, message: string, requestId: string): Record<string, unknown> {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

/** The error type the API uses for an HTTP status. */
export function errorTypeFor(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return 'api_error';
  }
}

/**
 * Streams a message as the Messages API's SSE events. `message_start` (and a `ping`) go out at
 * once; the remaining events are spread evenly over `spreadMs` (the stand-in's latency), as a
 * model generates its answer. A client that goes away stops the stream: nothing more is written.
 */
export async function writeSse(res: ServerResponse, message: MessageBody, requestId: string, spreadMs = 0): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'request-id': requestId,
  });
  const events: [string, Record<string, unknown>][] = [];
  const send = (event: string, data: Record<string, unknown>) => {
    events.push([event, data]);
  };
  const { usage } = message;
  send('message_start', {
    type: 'message_start',
    message: {
      ...message,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: Math.min(1, usage.output_tokens) },
    },
  });
  send('ping', { type: 'ping' });
  const immediate = events.length;
  message.content.forEach((block, index) => {
    if (block.type === 'text' && typeof block.text === 'string') {
      send('content_block_start', { type: 'content_block_start', index, content_block: { ...block, text: '' } });
      for (const piece of chunks(block.text, 24)) {
        send('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
      }
    } else if (block.type === 'tool_use') {
      send('content_block_start', { type: 'content_block_start', index, content_block: { ...block, input: {} } });
      const json = isRecord(block.input) && Object.keys(block.input).length === 0 ? '' : JSON.stringify(block.input);
      // The API opens every tool input with an empty delta.
      for (const piece of ['', ...chunks(json, 16)]) {
        send('content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: piece },
        });
      }
    } else {
      send('content_block_start', { type: 'content_block_start', index, content_block: block });
    }
    send('content_block_stop', { type: 'content_block_stop', index });
  });
  send('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      output_tokens: usage.output_tokens,
    },
  });
  send('message_stop', { type: 'message_stop' });

  let gone = false;
  res.once('close', () => {
    gone = !res.writableFinished;
  });
  const paced = events.length - immediate;
  const pause = paced > 0 ? spreadMs / paced : 0;
  for (const [i, [event, data]] of events.entries()) {
    if (i >= immediate && pause > 0) await waitUnlessGone(res, pause);
    if (gone || res.destroyed) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
  res.end();
}

/** Waits `ms`, or less when the client has gone away (the response closed before it finished). */
export function waitUnlessGone(res: ServerResponse, ms: number): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.on('close', done);
  });
}

function chunks(text: string, size: number): string[] {
  const parts: string[] = [];
  // Split on code points so no surrogate pair is cut in half.
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i += size) parts.push(chars.slice(i, i + size).join(''));
  return parts;
}
