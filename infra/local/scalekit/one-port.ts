import type { Server as Http1Server } from 'node:http';
import type { Http2Server } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0');

/** Whether the first bytes of a connection are (the start of) the HTTP/2 client preface. */
function startsHttp2(chunk: Buffer): boolean {
  const length = Math.min(chunk.length, HTTP2_PREFACE.length);
  return length >= 3 && chunk.subarray(0, length).equals(HTTP2_PREFACE.subarray(0, length));
}

/**
 * One TCP listener for plaintext HTTP/1.1 and h2c (prior knowledge): the first chunk of each
 * connection decides which server gets the socket. The chunk is put back before handing over, and
 * an HTTP/2 socket is not resumed here (that would lose the preface); `http2.createServer` with
 * `allowHTTP1` does not serve plaintext HTTP/1.1, hence this.
 */
export function onePortServer(http1: Http1Server, http2: Http2Server): Server {
  return createServer((socket: Socket) => {
    // A peer that resets before sending anything must not crash the process.
    socket.on('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (startsHttp2(chunk)) {
        http2.emit('connection', socket);
      } else {
        http1.emit('connection', socket);
        socket.resume();
      }
    });
  });
}
