import { credentials, Metadata, type CallOptions, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { channelOptions } from './server';
import { fromServiceError } from './errors';

type ClientCtor<C> = new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: object) => C;

/** Creates a generated ts-proto client for an address with the platform's channel options. */
export function createClient<C extends Client>(Ctor: ClientCtor<C>, address: string): C {
  return new Ctor(address, credentials.createInsecure(), channelOptions);
}

/** Waits until the client's channel is connected (throws UNAVAILABLE-like RrError after timeoutMs). */
export function waitForReady(client: Client, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(fromServiceError({ code: 14, details: err.message })) : resolve())),
  );
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/**
 * Calls a unary method and returns a promise. Errors become RrErrors with the server's
 * status code, so a service can forward a peer's NOT_FOUND as its own NOT_FOUND.
 */
export function call<Req, Res>(
  client: Client,
  method: UnaryMethod<Req, Res>,
  req: Req,
  opts: { deadlineMs?: number } = {},
): Promise<Res> {
  const options = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
  return new Promise((resolve, reject) =>
    method.call(client, req, new Metadata(), options, (err: ServiceError | null, res: Res) => (err ? reject(fromServiceError(err)) : resolve(res))),
  );
}

/** Iterates a server stream, converting errors to RrErrors. */
export async function* iterate<Res>(stream: ClientReadableStream<Res>): AsyncGenerator<Res> {
  try {
    for await (const msg of stream as AsyncIterable<Res>) yield msg;
  } catch (e) {
    throw fromServiceError(e);
  }
}

