import { promises as dns } from 'node:dns';
import { RrError } from '@robustrec/core';

/**
 * The replicas of a scaled service (trainers, attack services) and who may run what on them.
 *
 * Sources, each entry of the list one of:
 * - "host:port": one static replica (tests, compose with fixed names);
 * - "dns:///name:port": every A record of `name` (a Kubernetes headless Service lists one per
 *   ready pod), each as "ip:port";
 * - "srv:///_grpc._tcp.name": every SRV record (a headless Service of a StatefulSet: stable
 *   pod names, "trainer-0.trainer.ns.svc.cluster.local:50053", that keep their volume across
 *   restarts, so a job pinned to one can resume from its checkpoint there).
 * DNS sources are resolved again every `refreshMs`: replicas that appear get work, replicas
 * that disappear are lost.
 *
 * Invariant (leases): a replica runs at most `slots` leased cells at once; a lost replica gets
 * no new lease until it is seen again (it answers, or DNS lists it again), and the cells that
 * held its leases move elsewhere (Orchestrator.train). acquire() waits, without polling, for a
 * free slot: every release and every refresh that adds capacity wakes the waiters.
 */
export interface ReplicaPoolOptions {
  /** Cells one replica runs at once (default 1: one training job per trainer). */
  slots?: number;
  /** How often DNS sources are resolved again (default 10 s). */
  refreshMs?: number;
  /** A replica that kept failing for this long is lost even if DNS still lists it (default 30 s). */
  lostAfterMs?: number;
  /** Health probe of a lost replica (true: it serves again). */
  probe?: (address: string) => Promise<boolean>;
  /** DNS lookups (tests inject a static table). */
  resolver?: { resolve4(name: string): Promise<string[]>; resolveSrv(name: string): Promise<Array<{ name: string; port: number }>> };
}

interface Replica {
  address: string;
  busy: number;
  /** Listed by its source at the last refresh. */
  listed: boolean;
  lost: boolean;
  /** Since when calls to it fail (0: they do not). */
  failingSince: number;
}

export class ReplicaPool {
  private readonly replicas = new Map<string, Replica>();
  private readonly waiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  readonly slots: number;
  readonly lostAfterMs: number;

  constructor(
    readonly what: string,
    private readonly sources: readonly string[],
    private readonly opts: ReplicaPoolOptions = {},
  ) {
    if (!sources.length) throw new RrError('INVALID_ARGUMENT', `at least one ${what} address is required`);
    this.slots = opts.slots ?? 1;
    this.lostAfterMs = opts.lostAfterMs ?? 30_000;
    for (const s of sources) if (!isDiscovery(s)) this.add(s);
  }

  /** Whether any source is resolved through DNS. */
  get discovers(): boolean {
    return this.sources.some(isDiscovery);
  }

  /** Resolves the DNS sources once now, then every refreshMs until close(). */
  async start(): Promise<this> {
    await this.refresh();
    if (this.discovers && !this.timer) {
      this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.opts.refreshMs ?? 10_000);
      this.timer.unref();
    }
    return this;
  }

  close(): void {
    clearInterval(this.timer);
    clearInterval(this.probeTimer);
    this.timer = this.probeTimer = undefined;
  }

  /** Resolves the DNS sources: new addresses join, addresses no longer listed are lost. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    if (!this.discovers) return;
    const r = this.opts.resolver ?? dns;
    const seen = new Set<string>();
    for (const s of this.sources) {
      if (!isDiscovery(s)) {
        seen.add(s);
        continue;
      }
      try {
        for (const a of await resolveSource(s, r)) seen.add(a);
      } catch (e) {
        // NXDOMAIN / no records: nothing of that source is up right now (all pods gone)
        if (!['ENOTFOUND', 'ENODATA'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      }
    }
    for (const rep of this.replicas.values()) {
      rep.listed = seen.has(rep.address);
      if (!rep.listed) rep.lost = true;
    }
    for (const a of seen) {
      const rep = this.replicas.get(a) ?? this.add(a);
      rep.listed = true;
      // listed again (a restarted pod): it gets work again once it answers
      if (rep.lost && rep.failingSince === 0) rep.lost = false;
    }
    this.wake();
  }

  private add(address: string): Replica {
    const rep: Replica = { address, busy: 0, listed: true, lost: false, failingSince: 0 };
    this.replicas.set(address, rep);
    return rep;
  }

  /** Every replica known, with its state (for status output and tests). */
  list(): Array<{ address: string; busy: number; lost: boolean }> {
    return [...this.replicas.values()].map((r) => ({ address: r.address, busy: r.busy, lost: r.lost }));
  }

  /** Replicas that may take work now. */
  live(): string[] {
    return [...this.replicas.values()].filter((r) => !r.lost).map((r) => r.address);
  }

  /**
   * A slot on a live replica: `prefer` when it is live and has a free slot (the replica that
   * owns a cell's job), else the least busy live one. Waits for a free slot; rejects when
   * `signal` aborts.
   */
  async acquire(signal?: AbortSignal, prefer?: string): Promise<string> {
    for (;;) {
      if (signal?.aborted) throw new RrError('CANCELLED', 'cancelled');
      const p = prefer ? this.replicas.get(prefer) : undefined;
      const pick = p && !p.lost && p.busy < this.slots ? p : [...this.replicas.values()].filter((r) => !r.lost && r.busy < this.slots).sort((a, b) => a.busy - b.busy)[0];
      if (pick) {
        pick.busy++;
        return pick.address;
      }
      if (this.discovers) await this.refresh().catch(() => undefined);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.push(wake);
        signal?.addEventListener('abort', wake, { once: true });
        // DNS sources: look again now and then even if nothing is released
        if (this.discovers) setTimeout(wake, this.opts.refreshMs ?? 10_000).unref();
      });
    }
  }

  release(address: string): void {
    const r = this.replicas.get(address);
    if (r && r.busy > 0) r.busy--;
    this.wake();
  }

  /** A call to the replica got through: it is not failing (and, if it was lost, it is back). */
  succeeded(address: string): void {
    const r = this.replicas.get(address);
    if (!r) return;
    r.failingSince = 0;
    if (r.lost && r.listed) {
      r.lost = false;
      this.wake();
    }
  }

  /**
   * A call to the replica failed with UNAVAILABLE. Returns whether the replica is now lost:
   * DNS no longer lists it, or it has kept failing for lostAfterMs.
   */
  async failed(address: string): Promise<boolean> {
    const r = this.replicas.get(address);
    if (!r) return true;
    r.failingSince ||= Date.now();
    if (this.discovers) await this.refresh().catch(() => undefined);
    // the last live replica is never given up on: the caller's retry bound applies instead
    const others = this.live().some((a) => a !== address);
    if (!r.listed || (others && Date.now() - r.failingSince >= this.lostAfterMs)) r.lost = true;
    if (r.lost) this.watchLost();
    return r.lost;
  }

  /** While some replica is lost, probes it every refreshMs (opts.probe): one that answers again gets work again. */
  private watchLost(): void {
    const probe = this.opts.probe;
    if (!probe || this.probeTimer) return;
    this.probeTimer = setInterval(() => {
      const lost = [...this.replicas.values()].filter((r) => r.lost && r.listed);
      if (!lost.length) {
        clearInterval(this.probeTimer);
        this.probeTimer = undefined;
        return;
      }
      for (const r of lost) void probe(r.address).then((up) => up && this.succeeded(r.address), () => undefined);
    }, this.opts.refreshMs ?? 10_000);
    this.probeTimer.unref();
  }

  /** Whether the replica is lost now. */
  isLost(address: string): boolean {
    return this.replicas.get(address)?.lost ?? true;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const isDiscovery = (s: string): boolean => s.startsWith('dns:///') || s.startsWith('srv:///');

async function resolveSource(s: string, r: NonNullable<ReplicaPoolOptions['resolver']>): Promise<string[]> {
  if (s.startsWith('srv:///')) return (await r.resolveSrv(s.slice('srv:///'.length))).map((x) => `${x.name}:${x.port}`).sort();
  const hostPort = s.slice('dns:///'.length);
  const i = hostPort.lastIndexOf(':');
  if (i <= 0) throw new RrError('INVALID_ARGUMENT', `${s}: expected dns:///name:port`);
  const port = hostPort.slice(i + 1);
  return (await r.resolve4(hostPort.slice(0, i))).map((ip) => `${ip}:${port}`).sort();
}

/** Parses "a,b,c" into the list of sources (addresses or dns:/// and srv:/// names). */
export const replicaSources = (v: string | undefined): string[] => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);
