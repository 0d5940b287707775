/**
 * The one place a body chunk is written to a socket, in either direction: as is (Content-Length
 * or close-delimited framing) or as one HTTP/1.1 chunk (size line, data, CRLF). Three writes
 * rather than a concatenation: under cork they leave as one Buffer anyway, and the data is
 * never copied.
 */
import { Framing } from './headers.js';
import type { ProxySocket } from '../socket.js';

const CRLF = '\r\n';
/** The last chunk of a chunked body, with no trailers. */
export const LAST_CHUNK = '0\r\n\r\n';

/** Writes `chunk` framed as `framing` says; false when the socket wants the writer to wait for drain. */
export function writeChunk(sock: ProxySocket, chunk: Buffer, framing: Framing): boolean {
  if (framing === Framing.Chunked) {
    sock.write(chunk.length.toString(16) + CRLF);
    sock.write(chunk);
    return sock.write(CRLF);
  }
  return sock.write(chunk);
}
