import { type credentials, loadPackageDefinition, Metadata, ServerInterceptingCall, status, type Client, type ClientReadableStream, type Server, type ServerInterceptor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath, type HealthImplementation } from 'grpc-health-check';
import { channelCredentials, clientSecurityOptions } from './security';

/**
 * Readiness and graceful shutdown of one gRPC server (used by startServer).
 *
 * Readiness: grpc.health.v1 answers NOT_SERVING for every served name from the moment the
 * port is bound until the service's start function calls markReady (its stores are open and
 * its workers are started); each name reports on its own, and the overall "" name is
 * SERVING only while every one of them is. Kubernetes probes readiness on a service name
 * and liveness on "" (deploy/k8s).
 *
 * Shutdown (drain): every name goes NOT_SERVING first, then the server stops accepting
 * calls, the calls in flight run to completion within a grace period, the streams that never
 * end by themselves (health Watch, reflection) are ended with UNAVAILABLE once their clients
 * have seen NOT_SERVING, and whatever still runs when the grace period is over is cancelled.
 */
export class Lifecycle {
  private readonly ready = new Set<string>();
  private stopping = false;
  /**
   * Calls in flight (open-ended streams aside): an intrusive list, not a Set. A long-lived Set
   * gaining and losing an entry per call keeps finished calls alive through young-generation
   * GCs (each rehash leaves the old table in old space, still pointing at the calls of that
   * moment: docs/benchmarks.md, stop 13); unlinking a node leaves no such pointer behind.
   */
  private head: InFlight | undefined;
  private inflight = 0;
  /** Open-ended streams in flight, ended by endOpenEnded. */
  private readonly openEnded = new Set<ServerInterceptingCall>();

  constructor(
    private readonly health: HealthImplementation,
    /** The fully qualified names served (health names). */
    readonly services: readonly string[],
  ) {
    for (const s of ['', ...services]) health.setStatus(s, 'NOT_SERVING');
  }

  /** Marks services ready (default: all); "" follows once all are. No effect once stopping. */
  markReady(names: readonly string[] = this.services): void {
    if (this.stopping) return;
    for (const n of names) {
      if (!this.services.includes(n)) throw new Error(`markReady: ${n} is not served here`);
      this.ready.add(n);
      this.health.setStatus(n, 'SERVING');
    }
    if (this.services.every((s) => this.ready.has(s))) this.health.setStatus('', 'SERVING');
  }

  /** Every name (and "") NOT_SERVING, for good: the first step of a shutdown. */
  markNotServing(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.ready.clear();
    for (const s of ['', ...this.services]) this.health.setStatus(s, 'NOT_SERVING');
  }

  /** Calls in flight, not counting open-ended streams. */
  get callsInFlight(): number {
    return this.inflight;
  }

  /** Ends the open-ended streams (health Watch, reflection) with UNAVAILABLE. */
  endOpenEnded(): void {
    for (const c of [...this.openEnded]) c.sendStatus({ code: status.UNAVAILABLE, details: 'server shutting down', metadata: new Metadata() });
  }

  /** Ends every call still in flight with UNAVAILABLE and `details` (their handlers see a cancellation). */
  cancelInflight(details: string): void {
    const all: ServerInterceptingCall[] = [];
    for (let n = this.head; n; n = n.next) all.push(n.call!);
    for (const c of all) c.sendStatus({ code: status.UNAVAILABLE, details, metadata: new Metadata() });
  }

  /** Tracks each call from its start to its status or its cancellation. */
  readonly interceptor: ServerInterceptor = (method, next) => {
    if (OPEN_ENDED.some((r) => r.test(method.path))) {
      const end = (): void => void this.openEnded.delete(call);
      const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
        start: (go) => go({ onCancel: end }),
        sendStatus: (st, go) => {
          end();
          go(st);
        },
      });
      this.openEnded.add(call);
      return call;
    }
    const node: InFlight = { call: undefined, prev: undefined, next: this.head, linked: true };
    const end = (): void => this.unlink(node);
    const call = new ServerInterceptingCall(next, {
      start: (go) => go({ onCancel: end }),
      sendStatus: (st, go) => {
        end();
        go(st);
      },
    });
    node.call = call;
    if (this.head) this.head.prev = node;
    this.head = node;
    this.inflight++;
    return call;
  };

  private unlink(n: InFlight): void {
    if (!n.linked) return;
    n.linked = false;
    if (n.prev) n.prev.next = n.next;
    else this.head = n.next;
    if (n.next) n.next.prev = n.prev;
    n.prev = n.next = n.call = undefined;
    this.inflight--;
  }
}

/** A call in flight: a node of Lifecycle's intrusive list. */
interface InFlight {
  call: ServerInterceptingCall | undefined;
  prev: InFlight | undefined;
  next: InFlight | undefined;
  linked: boolean;
}

/** Streams that only end when their client ends them. */
const OPEN_ENDED = [/^\/grpc\.health\.v1\.Health\/Watch$/, /^\/grpc\.reflection\.v1(alpha)?\.ServerReflection\//];

/** Default grace period of a shutdown: ROBUSTREC_SHUTDOWN_GRACE_MS, else 10 s. */
export function shutdownGraceMs(): number {
  const v = process.env.ROBUSTREC_SHUTDOWN_GRACE_MS ? Number(process.env.ROBUSTREC_SHUTDOWN_GRACE_MS) : Number.NaN;
  return Number.isFinite(v) && v >= 0 ? v : 10_000;
}

/**
 * Drains a server (see Lifecycle): NOT_SERVING, stop accepting, let calls in flight finish
 * within graceMs, then cancel the rest. Resolves to whether anything had to be cancelled.
 */
export async function drainServer(server: Server, lifecycle: Lifecycle, graceMs: number): Promise<{ forced: boolean }> {
  lifecycle.markNotServing();
  const closed = new Promise<void>((r) => server.tryShutdown(() => r()));
  // their clients have seen NOT_SERVING (a Watch is told at once); nothing more will come
  lifecycle.endOpenEnded();
  const forced = !(await within(closed, graceMs));
  if (forced) {
    // Clients get a status rather than a dropped connection, and the sessions can close. (It
    // is also the only way they learn: with channelz off, grpc-js's forceShutdown does not see
    // the sessions and leaves their calls hanging.)
    lifecycle.cancelInflight(`server shut down: the call did not finish within the ${graceMs} ms grace period`);
    await within(closed, 1_000);
    server.forceShutdown();
  }
  return { forced };
}

/** Whether p settles within ms. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  return done;
}

/**
 * SIGTERM / SIGINT handling of a service main: the first signal runs `stop` (which drains,
 * see drainServer, with shutdownGraceMs()) and exits 0 when it returns, 1 if it throws; a
 * second signal while stopping exits 1 at once.
 */
export function exitOnSignals(what: string, stop: (graceMs: number) => Promise<void>): void {
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`${what}: ${sig} again, exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    const grace = shutdownGraceMs();
    console.error(`${what}: ${sig}, draining (grace ${grace} ms)`);
    stop(grace).then(
      () => {
        console.error(`${what}: stopped`);
        process.exit(0);
      },
      (e: unknown) => {
        console.error(`${what}: shutdown failed: ${e instanceof Error ? e.message : e}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * grpc.health.v1.Health/Watch on a server: calls onStatus with each status it sends
 * ("SERVING", "NOT_SERVING", ...); `ended` resolves with the stream's final status code and
 * details when the server ends it (or rejects if the stream cannot be opened).
 */
export function watchHealth(address: string, service: string, onStatus: (status: string) => void): { ended: Promise<{ code: number; details: string }>; cancel(): void } {
  const Health = loadPackageDefinition(loadSync(healthProtoPath, { keepCase: true, enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (a: string, c: ReturnType<typeof credentials.createInsecure>, o?: object) => Client & { Watch(req: { service: string }): ClientReadableStream<{ status: string }> } } } };
  };
  const c = new Health.grpc.health.v1.Health(address, channelCredentials(), clientSecurityOptions());
  const stream = c.Watch({ service });
  stream.on('data', (m: { status: string }) => onStatus(m.status));
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    stream.on('status', (s: { code: number; details: string }) => {
      c.close();
      resolve({ code: s.code, details: s.details });
    });
    stream.on('error', () => undefined); // the status event carries it
  });
  return { ended, cancel: () => stream.cancel() };
}
