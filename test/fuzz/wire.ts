import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';

/**
 * gRPC over HTTP/2 written out by hand (node:http2 and the length-prefixed framing of the
 * gRPC wire protocol), so the fuzzer can send what no gRPC library would: frames whose
 * length prefix lies, random bytes, messages cut by RST_STREAM, streams left half-open.
 * Nothing here uses grpc-js or the project's helpers.
 */

/** One gRPC message frame: compressed flag, big-endian length, payload. `length` may lie. */
export function frame(payload: Uint8Array, opts: { length?: number; compressed?: boolean } = {}): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(opts.compressed ? 1 : 0, 0);
  head.writeUInt32BE(opts.length ?? payload.byteLength, 1);
  return Buffer.concat([head, payload]);
}

/** How the request body is sent. */
export interface Send {
  /** Bytes written to the stream, in order (frames, or anything else). */
  chunks: Uint8Array[];
  /** End the request stream after the chunks (half-close); default true. */
  end?: boolean;
  /** Reset the stream (RST_STREAM CANCEL) right after writing the chunks, before any answer. */
  reset?: boolean;
  /** Extra or replacement request headers (e.g. a bad grpc-timeout or content-type). */
  headers?: OutgoingHttpHeaders;
  /** grpc-timeout sent to the server, ms (default: the call's timeout). 0: none sent. */
  grpcTimeoutMs?: number;
}

export interface WireResult {
  /** grpc-status, when the server sent one. */
  code?: number;
  message: string;
  /** HTTP status of the response headers (200 for gRPC). */
  httpStatus?: number;
  /** Response messages (payloads without their 5-byte prefix). */
  messages: Buffer[];
  /** Bytes of response body received. */
  bytes: number;
  /** No status within the local timeout: a hang. */
  hung: boolean;
  /** We reset the stream ourselves (no status expected). */
  reset: boolean;
  /** Transport-level failure (connection refused or dropped, protocol error). */
  transportError?: string;
  ms: number;
}

/** Splits a response body into gRPC message payloads (ignores an incomplete tail). */
export function unframe(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 5 <= body.length) {
    const n = body.readUInt32BE(off + 1);
    if (off + 5 + n > body.length) break;
    out.push(body.subarray(off + 5, off + 5 + n));
    off += 5 + n;
  }
  return out;
}

/** A raw HTTP/2 connection to one server; reconnects after the server or a protocol error closes it. */
export class WireClient {
  private session?: ClientHttp2Session;

  constructor(readonly address: string) {}

  private connection(): ClientHttp2Session {
    if (!this.session || this.session.closed || this.session.destroyed) {
      const s = connect(`http://${this.address}`, { maxSessionMemory: 1024 });
      s.on('error', () => undefined); // surfaced per stream
      s.on('goaway', () => s.close());
      this.session = s;
    }
    return this.session;
  }

  /**
   * One call: writes the body, collects the answer, and resolves at the status, at our
   * reset, or after `timeoutMs` (then the call counts as a hang and the stream is reset).
   */
  call(path: string, send: Send, timeoutMs: number): Promise<WireResult> {
    const t0 = performance.now();
    return new Promise<WireResult>((resolve) => {
      const body: Buffer[] = [];
      let bytes = 0;
      let httpStatus: number | undefined;
      let code: number | undefined;
      let message = '';
      let settled = false;
      let stream: ClientHttp2Stream | undefined;
      const finish = (extra: Partial<WireResult> = {}): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (stream && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
        resolve({ code, message, httpStatus, messages: unframe(Buffer.concat(body)), bytes, hung: false, reset: false, ms: performance.now() - t0, ...extra });
      };
      const timer = setTimeout(() => finish({ hung: true }), timeoutMs);
      const grpcTimeout = send.grpcTimeoutMs ?? timeoutMs;
      const headers: OutgoingHttpHeaders = {
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_SCHEME]: 'http',
        'content-type': 'application/grpc+proto',
        te: 'trailers',
        ...(grpcTimeout > 0 ? { 'grpc-timeout': `${Math.ceil(grpcTimeout)}m` } : {}),
        ...send.headers,
      };
      try {
        stream = this.connection().request(headers, { endStream: false });
      } catch (e) {
        return finish({ transportError: (e as Error).message });
      }
      const readStatus = (h: Record<string, unknown>): void => {
        if (h['grpc-status'] !== undefined) code = Number(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      // the status ends the call even while our side of the stream is still open (half-closed tests)
      stream.on('response', (h) => {
        httpStatus = Number(h[constants.HTTP2_HEADER_STATUS]);
        readStatus(h); // trailers-only responses carry the status in the headers
        if (code !== undefined) finish();
      });
      stream.on('trailers', (h) => {
        readStatus(h);
        finish();
      });
      stream.on('data', (d: Buffer) => {
        bytes += d.length;
        // keep at most 16 MiB of a response (the amplification checks only need its size)
        if (bytes <= 16 << 20) body.push(d);
      });
      stream.on('error', (e) => {
        // a session the server stopped trusting (e.g. ENHANCE_YOUR_CALM after many resets and
        // invalid frames: Node's HTTP/2 flood protection) refuses every later stream: start a new one
        if (/ENHANCE_YOUR_CALM|GOAWAY|session/i.test(e.message)) this.drop();
        finish({ transportError: e.message });
      });
      stream.on('close', () => finish(code === undefined && !settled ? { transportError: `stream closed without status (rst code ${stream?.rstCode})` } : {}));
      for (const c of send.chunks) stream.write(c);
      if (send.reset) {
        // the server gets the bytes, then RST_STREAM: nothing comes back to wait for
        setImmediate(() => finish({ reset: true }));
        return;
      }
      if (send.end !== false) stream.end();
    });
  }

  /** Forgets the current connection (destroying it); the next call opens a new one. */
  drop(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
