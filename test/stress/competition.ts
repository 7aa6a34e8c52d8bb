import { spawn, type ChildProcess } from 'node:child_process';
import { MessageChannel, Worker } from 'node:worker_threads';
import { DONE, SEQ } from '@robustrec/core';

/**
 * What competes with the handoffs under stress: CPU-burning processes (more runnable
 * threads than cores, so the caller and helper are preempted at arbitrary points, e.g.
 * between publishing SEQ and notifying it) and a noise thread that sends stray
 * Atomics.notify calls to every registered link's SEQ and DONE words. A stray notify is what
 * a late notify looks like to the helper: the protocol must treat a wake-up as a hint only
 * (helper-thread.ts, rule 2), so the old helper loop fails at once under this noise.
 */
export class Competition {
  private readonly burners: ChildProcess[] = [];
  private noise: Worker | undefined;
  private readonly stop = new Int32Array(new SharedArrayBuffer(8));
  private readonly port = new MessageChannel();

  /** Wake-ups the noise thread delivered to a sleeping helper or caller (Atomics.notify's count). */
  get strayWakeups(): number {
    return Atomics.load(this.stop, 1);
  }

  static async start(opts: { burners: number; noise: boolean }): Promise<Competition> {
    const c = new Competition();
    for (let i = 0; i < opts.burners; i++) c.burners.push(spawn(process.execPath, ['-e', BURN, String(process.pid)], { stdio: 'ignore' }));
    if (opts.noise) {
      c.noise = new Worker(NOISE, { eval: true, workerData: { stop: c.stop, port: c.port.port2, SEQ, DONE }, transferList: [c.port.port2] });
      c.noise.unref();
    }
    return c;
  }

  /** Adds a link's control words to the noise thread's targets. */
  watch(ctrl: Int32Array | undefined): void {
    if (ctrl && this.noise) this.port.port1.postMessage(ctrl);
  }

  async close(): Promise<void> {
    Atomics.store(this.stop, 0, 1);
    for (const b of this.burners) b.kill('SIGKILL');
    if (this.noise) await new Promise((r) => this.noise!.once('exit', r));
    this.port.port1.close();
  }
}

// Burns a core; exits once its parent is gone, so a killed test leaves no spinner behind.
const BURN = 'const p = Number(process.argv[1]); for (let i = 1; ; i++) if (i % 1e7 === 0) try { process.kill(p, 0); } catch { process.exit(0); }';

// Plain JS (eval'd worker): spins, notifying every registered link at random short intervals.
const NOISE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { stop, port, SEQ, DONE } = workerData;
const targets = [];
let acc = 0, seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8);
while (Atomics.load(stop, 0) === 0) {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) targets.push(m.message);
  for (const c of targets) {
    const woken = Atomics.notify(c, SEQ) + Atomics.notify(c, DONE);
    if (woken) Atomics.add(stop, 1, woken);
  }
  for (let i = rand() % 4096; i > 0; i--) acc = (acc + i) | 0;
}
Atomics.store(stop, 0, acc | 1);
`;
