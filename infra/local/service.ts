import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { dirname } from 'node:path';

/** A running local stand-in: its base URL (no trailing slash) and how to stop it. */
export interface LocalService {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Listens on `host:port` (port 0 = ephemeral) and returns the base URL and a `close` that also
 * destroys open keep-alive / HTTP/2 sockets, so a test run never hangs on shutdown.
 */
export async function listen(
  server: Server | import('node:net').Server,
  options: { port?: number; host?: string } = {},
): Promise<LocalService> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads a stand-in's persisted state (`.data/<name>.json`), or `undefined` when there is none. */
export function readState<T>(path: string | undefined): T | undefined {
  if (!path) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes a stand-in's state atomically (temp file + rename); a no-op without a path (`--memory`). */
export function writeState(path: string | undefined, value: unknown): void {
  if (!path) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, path);
}

/** Reads a whole request body (bounded), for the stand-ins' small JSON and form bodies. */
export async function readBody(req: import('node:http').IncomingMessage, limit = 8 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends a JSON response with `content-type: application/json`. */
export function sendJson(
  res: import('node:http').ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
