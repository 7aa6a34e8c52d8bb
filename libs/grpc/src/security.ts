import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  ChannelCredentials,
  credentials,
  InterceptingCall,
  Metadata,
  ServerCredentials,
  ServerInterceptingCall,
  status,
  type Interceptor,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import { RrError } from '@robustrec/core';
import { accessOf } from './access';

/**
 * Transport security and authentication of the platform (one configuration per process,
 * from the environment unless a caller passes its own):
 *
 * - TLS: a server with a certificate and key serves TLS only; a client with a CA (or a
 *   certificate of its own) connects with TLS only and verifies the server's certificate
 *   against the CA (the system roots when none is given). Mutual TLS: servers that
 *   require it refuse clients without a certificate signed by the CA.
 * - Token: servers with a token refuse mutating RPCs (access.ts) without
 *   `authorization: Bearer <token>` (UNAUTHENTICATED) or with another token
 *   (PERMISSION_DENIED), and reads too when reads are protected; health stays open for
 *   probes. Clients send the token on every call (services forward theirs to their peers).
 *
 * Environment (each *_CERT / *_KEY / *_CA is a PEM file path, or the PEM text itself):
 *   ROBUSTREC_TLS_CERT, ROBUSTREC_TLS_KEY  this process's certificate and key (server side;
 *                                         also its client certificate for mutual TLS)
 *   ROBUSTREC_TLS_CA                      CA bundle verifying peers
 *   ROBUSTREC_TLS_CLIENT_AUTH=require     servers require client certificates (mutual TLS)
 *   ROBUSTREC_TLS_SERVER_NAME             name expected in server certificates when peers are
 *                                         reached by IP (replicas discovered through DNS A records)
 *   ROBUSTREC_TOKEN / ROBUSTREC_TOKEN_FILE the bearer token (servers accept it, clients send it);
 *                                         ROBUSTREC_ACCEPT_TOKENS adds comma-separated tokens
 *                                         servers also accept (rotation)
 *   ROBUSTREC_AUTH_READS=1                read-only RPCs need the token too
 */
export interface SecurityConfig {
  tls?: {
    cert?: Buffer;
    key?: Buffer;
    ca?: Buffer;
    /** Servers require a client certificate signed by `ca`. */
    requireClientCert?: boolean;
    /** Name checked in server certificates instead of the dialled host. */
    serverName?: string;
  };
  /** The token this process sends; servers accept it and `acceptTokens`. */
  token?: string;
  acceptTokens?: string[];
  /** Read-only RPCs need the token too (health never does). */
  protectReads?: boolean;
}

const PEM = /^-----BEGIN /;

/** A PEM value: inline text, or the contents of the file it names. */
function pem(name: string, v: string | undefined): Buffer | undefined {
  if (!v) return undefined;
  if (PEM.test(v.trim())) return Buffer.from(v.trim() + '\n');
  try {
    return readFileSync(v);
  } catch (e) {
    throw new RrError('INVALID_ARGUMENT', `${name}: cannot read ${v}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** The configuration the environment describes (see SecurityConfig). */
export function securityFromEnv(env: NodeJS.ProcessEnv = process.env): SecurityConfig {
  const cert = pem('ROBUSTREC_TLS_CERT', env.ROBUSTREC_TLS_CERT);
  const key = pem('ROBUSTREC_TLS_KEY', env.ROBUSTREC_TLS_KEY);
  const ca = pem('ROBUSTREC_TLS_CA', env.ROBUSTREC_TLS_CA);
  if (!!cert !== !!key) throw new RrError('INVALID_ARGUMENT', 'ROBUSTREC_TLS_CERT and ROBUSTREC_TLS_KEY go together: set both or neither');
  const requireClientCert = env.ROBUSTREC_TLS_CLIENT_AUTH === 'require';
  if (requireClientCert && !ca) throw new RrError('INVALID_ARGUMENT', 'ROBUSTREC_TLS_CLIENT_AUTH=require needs ROBUSTREC_TLS_CA (the CA client certificates are checked against)');
  let token = env.ROBUSTREC_TOKEN ?? '';
  if (!token && env.ROBUSTREC_TOKEN_FILE) {
    try {
      token = readFileSync(env.ROBUSTREC_TOKEN_FILE, 'utf8').trim();
    } catch (e) {
      throw new RrError('INVALID_ARGUMENT', `ROBUSTREC_TOKEN_FILE: cannot read ${env.ROBUSTREC_TOKEN_FILE}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  const acceptTokens = (env.ROBUSTREC_ACCEPT_TOKENS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return {
    tls: cert || ca ? { cert, key, ca, requireClientCert, serverName: env.ROBUSTREC_TLS_SERVER_NAME || undefined } : undefined,
    token: token || undefined,
    acceptTokens,
    protectReads: env.ROBUSTREC_AUTH_READS === '1' || env.ROBUSTREC_AUTH_READS === 'true',
  };
}

let processSecurity: SecurityConfig | undefined;

/** This process's configuration: the environment's, unless configureSecurity replaced it. */
export function defaultSecurity(): SecurityConfig {
  processSecurity ??= securityFromEnv();
  return processSecurity;
}

/** Replaces this process's configuration (tests, embedded platforms). */
export function configureSecurity(config: SecurityConfig | undefined): void {
  processSecurity = config;
}

// ---- server side -----------------------------------------------------------------------------

export function serverCredentials(sec: SecurityConfig = defaultSecurity()): ServerCredentials {
  const t = sec.tls;
  if (!t?.cert || !t.key) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(t.ca ?? null, [{ cert_chain: t.cert, private_key: t.key }], t.requireClientCert ?? false);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The bearer tokens servers accept: the configuration's own and the rotation list. */
export const acceptedTokens = (sec: SecurityConfig): string[] => [sec.token, ...(sec.acceptTokens ?? [])].filter((t): t is string => !!t);

/** Whether `given` is one of `accepted`, comparing digests in constant time. */
export function tokenMatches(given: string, accepted: string[]): boolean {
  const d = digest(given);
  let ok = false;
  for (const a of accepted) ok = timingSafeEqual(d, digest(a)) || ok;
  return ok;
}

/** The bearer token of a call's metadata ('' when none). */
export function bearerToken(md: Metadata): string {
  const v = md.get('authorization')[0];
  const s = typeof v === 'string' ? v : v ? v.toString() : '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(s);
  return m ? m[1]! : '';
}

/**
 * The token check, as a server interceptor: a call that needs the token (see access.ts and
 * SecurityConfig.protectReads) and lacks it ends UNAUTHENTICATED, one with another token
 * PERMISSION_DENIED, before its handler runs or its request is read; the message never
 * repeats the token. No token configured: every call passes (development on loopback).
 */
export function authInterceptor(sec: SecurityConfig = defaultSecurity()): ServerInterceptor {
  const accepted = acceptedTokens(sec);
  return (method, next) => {
    const access = accessOf(method.path);
    if (!accepted.length || access === 'open' || (access === 'read' && !sec.protectReads)) return new ServerInterceptingCall(next);
    const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
      start: (go) =>
        go({
          onReceiveMetadata: (md, pass) => {
            const given = bearerToken(md);
            if (given && tokenMatches(given, accepted)) return pass(md);
            call.sendStatus(
              given
                ? { code: status.PERMISSION_DENIED, details: `${method.path}: the bearer token is not accepted here`, metadata: new Metadata() }
                : { code: status.UNAUTHENTICATED, details: `${method.path} needs a bearer token (authorization: Bearer <token>)`, metadata: new Metadata() },
            );
          },
        }),
    });
    return call;
  };
}

// ---- client side -----------------------------------------------------------------------------

export function channelCredentials(sec: SecurityConfig = defaultSecurity()): ChannelCredentials {
  const t = sec.tls;
  if (!t) return credentials.createInsecure();
  // our own certificate doubles as the client certificate (mutual TLS)
  return credentials.createSsl(t.ca ?? null, t.key ?? null, t.cert ?? null);
}

/** Adds `authorization: Bearer <token>` to every call of a client. */
function tokenInterceptor(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/**
 * Channel options carrying the configuration's client side: the token interceptor and the
 * server-name override. (The token goes in through an interceptor rather than call
 * credentials so that a development platform with a token and no TLS works too.)
 */
export function clientSecurityOptions(sec: SecurityConfig = defaultSecurity()): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (sec.token) o.interceptors = [tokenInterceptor(sec.token)];
  if (sec.tls?.serverName) {
    o['grpc.ssl_target_name_override'] = sec.tls.serverName;
    o['grpc.default_authority'] = sec.tls.serverName;
  }
  return o;
}

/** Whether a configuration protects anything (servers log a warning when a public bind has none). */
export const isSecured = (sec: SecurityConfig = defaultSecurity()): boolean => !!(sec.tls?.cert && (sec.token || sec.acceptTokens?.length));
