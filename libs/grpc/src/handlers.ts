import type {
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
} from '@grpc/grpc-js';
import { toStatus } from './errors';

/**
 * Adapters from async functions to grpc-js handlers. Every service handler goes through
 * these, so error mapping (RrError -> status code) lives in one place.
 */
export function unary<Req, Res>(fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
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
      .then(() => fn(call.request, call))
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
      .then(() => fn(call as unknown as AsyncIterable<Req>, call))
      .then(
        (res) => callback(null, res),
        (e) => callback(toStatus(e)),
      );
  };
}

/** Writes to a server stream, waiting for drain when the buffer is full (back-pressure). */
export async function writeMessage<Res>(call: ServerWritableStream<unknown, Res>, msg: Res): Promise<void> {
  if (call.cancelled || call.destroyed) throw Object.assign(new Error('client cancelled'), { code: 1, details: 'client cancelled' });
  if (!call.write(msg)) await new Promise<void>((r) => call.once('drain', () => r()));
}
