import type { RowJob } from './kernels';

/**
 * Row jobs as numbers in shared memory, so a step's jobs reach the helper thread without a
 * structured clone (which cost more than the jobs themselves: a clone of every typed-array
 * view per job per step). Arrays are sent as (buffer id, type, byte offset, length) over
 * SharedArrayBuffers the helper has been given once; a new buffer travels as the request's
 * port message the first time a job uses it.
 */

/** Each op's fields, in encoding order. */
const FIELDS: { [K in RowJob['op']]: ReadonlyArray<string> } = {
  gather: ['table', 'width', 'rows', 'out'],
  perturb: ['src', 'g', 'eps', 'width', 'out'],
  bpr: ['eu', 'ei', 'ej', 'width', 'scale', 'gu', 'gi', 'gj', 'loss', 'posScores', 'tmp'],
  l2: ['x', 'g', 'width', 'c', 'sums'],
};
const OPS = Object.keys(FIELDS) as Array<RowJob['op']>;
const TYPES: ReadonlyArray<new (b: SharedArrayBuffer, offset: number, length: number) => View> = [Float32Array, Float64Array, Uint32Array, Int32Array] as never;
type View = Float32Array | Float64Array | Uint32Array | Int32Array;
const NUMBER = 0;
const ARRAY = 1;
const ABSENT = 2;

/** Slots of the command area one request may use. */
export const CODEC_SLOTS = 512;

/** Caller side: encodes jobs into `cmd`, naming the buffers the helper has not seen yet. */
export class RowJobEncoder {
  private readonly ids = new WeakMap<SharedArrayBuffer, number>();
  private nextId = 0;

  /** Writes jobs and the row range; returns the buffers to send first (id = order of first use). */
  encode(jobs: readonly RowJob[], from: number, to: number, cmd: Float64Array): Array<{ id: number; buffer: SharedArrayBuffer }> {
    const fresh: Array<{ id: number; buffer: SharedArrayBuffer }> = [];
    let p = 0;
    const put = (x: number): void => {
      if (p >= cmd.length) throw new Error(`row jobs need more than ${cmd.length} command slots`);
      cmd[p++] = x;
    };
    put(from);
    put(to);
    put(jobs.length);
    for (const job of jobs) {
      put(OPS.indexOf(job.op));
      for (const f of FIELDS[job.op]) {
        const v = (job as unknown as Record<string, unknown>)[f];
        if (v === undefined) put(ABSENT);
        else if (typeof v === 'number') {
          put(NUMBER);
          put(v);
        } else {
          const a = v as View;
          const buffer = a.buffer as SharedArrayBuffer;
          let id = this.ids.get(buffer);
          if (id === undefined) {
            this.ids.set(buffer, (id = this.nextId++));
            fresh.push({ id, buffer });
          }
          put(ARRAY);
          put(id);
          put(TYPES.findIndex((T) => a instanceof (T as unknown as typeof Float32Array)));
          put(a.byteOffset);
          put(a.length);
        }
      }
    }
    return fresh;
  }
}

/** Helper side: the buffers received so far, and decoding. */
export class RowJobDecoder {
  private readonly buffers: SharedArrayBuffer[] = [];

  add(id: number, buffer: SharedArrayBuffer): void {
    this.buffers[id] = buffer;
  }

  decode(cmd: Float64Array): { jobs: RowJob[]; from: number; to: number } {
    let p = 0;
    const from = cmd[p++]!;
    const to = cmd[p++]!;
    const n = cmd[p++]!;
    const jobs: RowJob[] = [];
    for (let j = 0; j < n; j++) {
      const op = OPS[cmd[p++]!]!;
      const job: Record<string, unknown> = { op };
      for (const f of FIELDS[op]) {
        const tag = cmd[p++]!;
        if (tag === NUMBER) job[f] = cmd[p++]!;
        else if (tag === ARRAY) {
          const buffer = this.buffers[cmd[p++]!];
          if (!buffer) throw new Error('row job names a buffer the helper was not sent');
          const T = TYPES[cmd[p++]!]!;
          const off = cmd[p++]!;
          const len = cmd[p++]!;
          job[f] = new T(buffer, off, len);
        }
      }
      jobs.push(job as unknown as RowJob);
    }
    return { jobs, from, to };
  }
}
