/**
 * The Open Inference Protocol's HTTP/REST binding (KServe v2 / Triton), on node:http beside
 * the gRPC port, over the same Oip (oip.ts) and so the same loaded models:
 *
 *   GET  /v2                                            server metadata
 *   GET  /v2/health/live | /v2/health/ready             200 true, 400 false, empty body
 *   GET  /v2/models/{name}[/versions/{v}]               model metadata
 *   GET  /v2/models/{name}[/versions/{v}]/ready         200 true, 400 not loaded, 404 unknown
 *   POST /v2/models/{name}[/versions/{v}]/infer         inference
 *
 * Errors answer {"error": "..."} with 400 (bad request, naming the tensor or field), 404
 * (unknown model, version or path), 405, 413 (body or batch too large), 503, or 500 (a
 * reference to the service log). Path segments are URL-decoded one by one, so a model named
 * "grid/MF" is /v2/models/grid%2FMF. The binary tensor data extension is declined with 400.
 *
 * Security follows the process's gRPC configuration (libs/grpc/src/security.ts): with a TLS
 * certificate the binding serves HTTPS only (client certificates required under mutual TLS);
 * when reads are protected, every endpoint but /v2/health needs `Authorization: Bearer <token>`
 * (401 without, 403 with another), as the gRPC methods do; all of them are reads.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { invalidArgument } from '@robustrec/core';
import { acceptedTokens, defaultSecurity, status, tokenMatches, toStatus, type SecurityConfig } from '@robustrec/grpc';
import type { InferCall, InferResult, InputTensor, Oip, ParamValue } from './oip';

export interface OipHttpOptions {
  /** host:port (default 127.0.0.1:0, an ephemeral port). */
  address?: string;
  /** Largest request body (default 8 MiB). */
  maxBodyBytes?: number;
  /** TLS and token configuration (default: the process's, as for gRPC). */
  security?: SecurityConfig;
}

const HTTP_OF: Partial<Record<number, number>> = {
  [status.INVALID_ARGUMENT]: 400,
  [status.FAILED_PRECONDITION]: 400,
  [status.OUT_OF_RANGE]: 400,
  [status.ABORTED]: 409,
  [status.NOT_FOUND]: 404,
  [status.RESOURCE_EXHAUSTED]: 413,
  [status.UNAVAILABLE]: 503,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.UNIMPLEMENTED]: 501,
};

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function params(field: string, v: unknown): Record<string, ParamValue> {
  if (v === undefined) return {};
  if (!isObject(v)) throw invalidArgument(field, 'must be an object of name: string | number | boolean');
  for (const [k, x] of Object.entries(v))
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') throw invalidArgument(`${field}.${k}`, 'must be a string, number or boolean');
  return v as Record<string, ParamValue>;
}

/** A short description of a JSON value for an error message (never its whole text: it may be huge or deep). */
const describe = (x: unknown): string =>
  typeof x === 'string' ? JSON.stringify(x.slice(0, 32)) : Array.isArray(x) ? 'an array' : x === null ? 'null' : typeof x === 'object' ? 'an object' : String(x);

/** Flattens tensor data given flat or in its natural nested layout (which must match the shape). */
function flatten(field: string, data: unknown, shape: number[], count: number): number[] {
  if (!Array.isArray(data)) throw invalidArgument(`${field}.data`, 'must be an array');
  const out: number[] = [];
  const leaf = (x: unknown, at: string): void => {
    if (typeof x !== 'number') throw invalidArgument(`${field}.data${at}`, `expected a number, got ${describe(x)}`);
    out.push(x);
  };
  if (!data.some(Array.isArray)) {
    if (data.length !== count) throw invalidArgument(`${field}.data`, `${data.length} values, but shape [${shape.join(', ')}] holds ${count}`);
    data.forEach((x, i) => leaf(x, `[${i}]`));
    return out;
  }
  const walk = (x: unknown, depth: number, at: string): void => {
    if (depth === shape.length) return leaf(x, at);
    if (!Array.isArray(x) || x.length !== shape[depth]) throw invalidArgument(`${field}.data${at}`, `nested data must match shape [${shape.join(', ')}]: expected ${shape[depth]} values at depth ${depth}`);
    x.forEach((y, i) => walk(y, depth + 1, `${at}[${i}]`));
  };
  walk(data, 0, '');
  return out;
}

/** Decodes an $inference_request JSON object into an InferCall (structure only: Oip checks names, types, shapes). */
export function inferCallOf(body: unknown, modelName: string, modelVersion: string): InferCall {
  if (!isObject(body)) throw invalidArgument('body', 'must be a JSON object ($inference_request)');
  for (const k of Object.keys(body)) if (!['id', 'parameters', 'inputs', 'outputs'].includes(k)) throw invalidArgument(k.slice(0, 64), 'unknown field of an inference request (id, parameters, inputs, outputs)');
  if (body.id !== undefined && typeof body.id !== 'string') throw invalidArgument('id', 'must be a string');
  if (!Array.isArray(body.inputs)) throw invalidArgument('inputs', 'must be an array of input tensors');
  const inputs = body.inputs.map((t: unknown, i): InputTensor => {
    if (!isObject(t)) throw invalidArgument(`inputs[${i}]`, 'must be an object');
    if (typeof t.name !== 'string') throw invalidArgument(`inputs[${i}].name`, 'must be a string');
    const field = `inputs[${t.name.slice(0, 64)}]`;
    if (typeof t.datatype !== 'string') throw invalidArgument(`${field}.datatype`, 'must be a string');
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) throw invalidArgument(`${field}.shape`, 'must be an array of non-negative integers');
    const p = params(`${field}.parameters`, t.parameters);
    if ('binary_data_size' in p) throw invalidArgument(`${field}.parameters.binary_data_size`, 'the binary tensor data extension is not supported: send the data as JSON');
    if (Object.keys(p).length) throw invalidArgument(`${field}.parameters.${Object.keys(p)[0]}`, 'unknown input parameter');
    if (t.data === undefined) throw invalidArgument(`${field}.data`, 'is required');
    const shape = t.shape as number[];
    return { name: t.name, datatype: t.datatype, shape, values: (f, count) => flatten(f, t.data, shape, count) };
  });
  let outputs: InferCall['outputs'];
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw invalidArgument('outputs', 'must be an array');
    outputs = body.outputs.map((o: unknown, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw invalidArgument(`outputs[${i}].name`, 'must be a string');
      return { name: o.name, parameters: params(`outputs[${o.name.slice(0, 64)}].parameters`, o.parameters) };
    });
  }
  return { modelName, modelVersion, id: (body.id as string | undefined) ?? '', parameters: params('parameters', body.parameters), inputs, outputs };
}

/** The $inference_response JSON of a result (padding scores are null: JSON has no NaN). */
export function inferResponseJson(r: InferResult, hasId: boolean): string {
  const shape = `[${r.users},${r.top.k}]`;
  const parts = r.outputs.map((name) => {
    if (name === 'items') return `{"name":"items","datatype":"INT64","shape":${shape},"data":[${r.top.items.join(',')}]}`;
    const s = r.top.scores;
    let data = '';
    for (let i = 0; i < s.length; i++) data += (i ? ',' : '') + (Number.isNaN(s[i]!) ? 'null' : String(s[i]));
    return `{"name":"scores","datatype":"FP32","shape":${shape},"data":[${data}]}`;
  });
  return `{"model_name":${JSON.stringify(r.modelName)},"model_version":${JSON.stringify(r.modelVersion)}${hasId ? `,"id":${JSON.stringify(r.id)}` : ''},"outputs":[${parts.join(',')}]}`;
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.byteLength;
      if (size > limit) {
        reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Splits /v2/... into decoded segments (each URL-decoded on its own). */
function segments(url: string): string[] {
  const path = url.split('?', 1)[0]!;
  try {
    return path.split('/').filter((s, i) => i > 0 && s !== '').map(decodeURIComponent);
  } catch {
    throw new HttpError(400, 'the path is not valid percent-encoding');
  }
}

/**
 * Starts the HTTP/REST server of an Oip. `close` stops accepting, lets requests in flight
 * finish within graceMs, then closes what is left.
 */
export async function startOipHttp(oip: Oip, opts: OipHttpOptions = {}): Promise<{ server: Server; address: string; port: number; close(graceMs?: number): Promise<void> }> {
  const limit = opts.maxBodyBytes ?? 8 << 20;
  let inflight = 0;
  let idle: (() => void) | undefined;

  const send = (res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(code, { ...(body ? { 'content-type': 'application/json' } : {}), 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  };
  const sendError = (res: ServerResponse, e: unknown): void => {
    if (e instanceof HttpError) return send(res, e.status, JSON.stringify({ error: e.message }), e.headers);
    if (e instanceof SyntaxError) return send(res, 400, JSON.stringify({ error: `body: not valid JSON (${e.message.slice(0, 120)})` }));
    const st = toStatus(e);
    send(res, HTTP_OF[st.code ?? status.INTERNAL] ?? 500, JSON.stringify({ error: st.details ?? 'error' }));
  };
  const method = (req: IncomingMessage, want: 'GET' | 'POST'): void => {
    if (req.method !== want && !(want === 'GET' && req.method === 'HEAD')) throw new HttpError(405, `${req.method} is not allowed here (${want})`, { allow: want });
  };

  const sec = opts.security ?? defaultSecurity();
  const tokens = sec.protectReads ? acceptedTokens(sec) : [];
  /** The bearer-token check of protected reads; the message never repeats a token. */
  const authorize = (req: IncomingMessage): void => {
    if (!tokens.length) return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new HttpError(401, 'this endpoint needs a bearer token (Authorization: Bearer <token>)', { 'www-authenticate': 'Bearer' });
    if (!tokenMatches(m[1]!, tokens)) throw new HttpError(403, 'the bearer token is not accepted here');
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const s = segments(req.url ?? '/');
    if (s[0] !== 'v2') throw new HttpError(404, `no such endpoint: ${(req.url ?? '').slice(0, 128)} (the Open Inference Protocol lives under /v2)`);
    if (s[1] !== 'health') authorize(req);
    if (s.length === 1) {
      method(req, 'GET');
      return send(res, 200, JSON.stringify(oip.serverMetadata()));
    }
    if (s[1] === 'health' && s.length === 3 && (s[2] === 'live' || s[2] === 'ready')) {
      method(req, 'GET');
      return send(res, s[2] === 'live' || oip.ready ? 200 : 400, '');
    }
    if (s[1] === 'models' && s.length >= 3) {
      const name = s[2]!;
      let rest = s.slice(3);
      let version = '';
      if (rest[0] === 'versions') {
        if (rest.length < 2) throw new HttpError(404, 'a version is required after /versions');
        version = rest[1]!;
        rest = rest.slice(2);
      }
      if (rest.length === 0) {
        method(req, 'GET');
        return send(res, 200, JSON.stringify(oip.modelMetadata(name, version)));
      }
      if (rest.length === 1 && rest[0] === 'ready') {
        method(req, 'GET');
        if (oip.modelReady(name, version)) return send(res, 200, '');
        // unknown (404) or known but not loaded (400); either way false, with an empty body
        let known = true;
        try {
          oip.modelMetadata(name, version);
        } catch {
          known = false;
        }
        return send(res, known ? 400 : 404, '');
      }
      if (rest.length === 1 && rest[0] === 'infer') {
        method(req, 'POST');
        if (req.headers['inference-header-content-length'] !== undefined)
          throw new HttpError(400, 'the binary tensor data extension (Inference-Header-Content-Length) is not supported: send a JSON $inference_request');
        const text = await readBody(req, limit);
        const body: unknown = JSON.parse(text);
        const callReq = inferCallOf(body, name, version);
        const r = await oip.infer(callReq);
        return send(res, 200, inferResponseJson(r, isObject(body) && body.id !== undefined));
      }
    }
    throw new HttpError(404, `no such endpoint: ${(req.url ?? '').slice(0, 128)}`);
  }

  const serverOptions = { requestTimeout: 60_000, headersTimeout: 15_000, keepAliveTimeout: 10_000, maxHeaderSize: 16 << 10 };
  const tls = sec.tls?.cert && sec.tls.key ? sec.tls : undefined;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    inflight++;
    res.on('close', () => {
      if (--inflight === 0 && idle) idle();
    });
    route(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      // the rest of a refused body is not read: close the connection rather than drain it
      if (e instanceof HttpError && e.status === 413) res.setHeader('connection', 'close');
      sendError(res, e);
    });
  };
  const server: Server = tls
    ? createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: !!tls.requireClientCert, rejectUnauthorized: !!tls.requireClientCert }, handler)
    : createServer(serverOptions, handler);
  // a bound on open connections (each costs a socket and parser; 32-client loads use 32)
  server.maxConnections = 1024;
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"error":"malformed HTTP request"}');
    else socket.destroy();
  });
  const address = opts.address ?? '127.0.0.1:0';
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(address.slice(at + 1)), host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    address: `${host}:${port}`,
    async close(graceMs = 5000) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      if (inflight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((r) => (idle = r)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
