import type {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  StatusObject,
} from '@grpc/grpc-js';
import { toStatus } from './errors';
import { acceptRequest, type RejectedRequest } from './guard';

/**
 * Adapters from async functions to grpc-js handlers. Every service handler goes through
 * these, so error mapping (RrError -> status code) and the request guard's verdict (a
 * request that failed to decode or check answers INVALID_ARGUMENT before `fn` runs, see
 * guard.ts) live in one place.
 */
export function unary<Req, Res>(fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(acceptRequest(call.request), call))
      .then(
        (res) => callback(null, res),
        (e) => callback(toStatus(e)),
      );
  };
}

export function serverStream<Req, Res>(
  fn: (req: Req, call: ServerWritableStream<Req, Res>) => Promise<void>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    Promise.resolve()
      .then(() => fn(acceptRequest(call.request), call))
      .then(
        () => call.end(),
        // grpc-js turns an 'error' event on a server stream into the call's status;
        // destroy() would not, and the client would hang until its deadline.
        (e) => {
          if (!call.cancelled) call.emit('error', toStatus(e));
        },
      );
  };
}

export function clientStream<Req, Res>(
  fn: (messages: AsyncIterable<Req>, call: ServerReadableStream<Req, Res>) => Promise<Res>,
): handleClientStreamingCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(accepted(call as unknown as AsyncIterable<Req | RejectedRequest>), call))
      .then(
        (res) => callback(null, res),
        (e) => callback(toStatus(e)),
      );
  };
}

/**
 * A bidirectional stream answering each request with one response, in request order.
 * Requests run concurrently (so they can share the server's batching); a failed request
 * becomes onError's response and the stream goes on.
 */
export function requestStream<Req, Res>(fn: (req: Req) => Promise<Res>, onError: (status: Partial<StatusObject>) => Res): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    let written = Promise.resolve();
    call.on('data', (req: Req) => {
      const res = Promise.resolve()
        .then(() => fn(acceptRequest(req)))
        .catch((e: unknown) => onError(toStatus(e)));
      // a cancelled stream makes writeMessage throw: the remaining answers have nowhere to go
      written = written.then(async () => writeMessage(call, await res)).catch(() => undefined);
    });
    call.on('end', () => void written.then(() => call.end()));
    call.on('error', () => undefined); // a client that goes away ends its stream; nothing to report
  };
}

/** A client stream's messages, the first one the guard rejected ending it with its error. */
async function* accepted<Req>(messages: AsyncIterable<Req | RejectedRequest>): AsyncGenerator<Req> {
  for await (const m of messages) yield acceptRequest(m);
}

/** What writeMessage needs of a server or bidirectional stream. */
interface WritableCall<Res> {
  cancelled: boolean;
  destroyed: boolean;
  write(msg: Res): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

/** Writes to a server (or bidirectional) stream, waiting for drain when the buffer is full (back-pressure). */
export async function writeMessage<Res>(call: WritableCall<Res>, msg: Res): Promise<void> {
  if (call.cancelled || call.destroyed) throw Object.assign(new Error('client cancelled'), { code: 1, details: 'client cancelled' });
  if (!call.write(msg)) await new Promise<void>((r) => call.once('drain', () => r()));
}
