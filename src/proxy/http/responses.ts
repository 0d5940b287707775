/**
 * Responses the balancer writes itself (errors and refusals), built once at start-up: each is
 * a short text body saying what happened, in a keep-alive and a closing variant.
 */
export interface CannedResponse {
  readonly status: number;
  readonly keepAlive: Buffer;
  readonly close: Buffer;
}

function build(status: number, reason: string, text: string): CannedResponse {
  const body = `${status} ${reason}: ${text}\n`;
  const head = (connection: string) =>
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: ${connection}\r\n\r\n`;
  return {
    status,
    keepAlive: Buffer.from(head('keep-alive') + body),
    close: Buffer.from(head('close') + body),
  };
}

export const responses = {
  badRequest: build(400, 'Bad Request', 'malformed request'),
  requestTimeout: build(408, 'Request Timeout', 'the request was not received in time'),
  headersTooLarge: build(431, 'Request Header Fields Too Large', 'the request head is larger than the limit'),
  notImplemented: build(501, 'Not Implemented', 'this request form is not supported by the balancer'),
  badGateway: build(502, 'Bad Gateway', 'no backend could be reached or it answered invalidly'),
  noBackend: build(503, 'Service Unavailable', 'no backend is ready'),
  queueTimeout: build(503, 'Service Unavailable', 'every backend is at its connection limit and the queue wait expired'),
  queueFull: build(503, 'Service Unavailable', 'every backend is at its connection limit and the queue is full'),
  shuttingDown: build(503, 'Service Unavailable', 'the balancer is shutting down'),
  gatewayTimeout: build(504, 'Gateway Timeout', 'the backend did not answer in time'),
  versionNotSupported: build(505, 'HTTP Version Not Supported', 'only HTTP/1.0 and HTTP/1.1 are served'),
} as const;
