import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { experiment } from '@robustrec/contracts';
import { RrError } from '@robustrec/core';
import { call, callOptions, createClient, iterate } from '@robustrec/grpc';
import { reportedMetrics } from '@robustrec/metrics';

/**
 * The CLI's side of the ExperimentService (`robustrec run/status/report/watch
 * --orchestrator ADDR`): submit a spec file's text, watch it to its end from any terminal,
 * fetch the report artifacts.
 */
const client = (address: string): experiment.ExperimentServiceClient => createClient(experiment.ExperimentServiceClient, address);

const STATE = (s: experiment.ExperimentState): string => experiment.experimentStateToJSON(s).replace('EXPERIMENT_STATE_', '').toLowerCase();
const CELL = (s: experiment.CellState): string => experiment.cellStateToJSON(s).replace('CELL_STATE_', '').toLowerCase();
const cellName = (c: experiment.Cell): string => `${c.dataset}/${c.attack}/${c.variant}/seed ${c.seed}`;

/** Submits a spec and watches it to its end; resolves to the experiment's final state. */
export async function submitAndWatch(address: string, specPath: string, seeds: number[], out = process.stderr): Promise<experiment.Experiment> {
  const c = client(address);
  try {
    const res = await call(c, c.submitExperiment, { specYaml: readFileSync(specPath, 'utf8'), seeds });
    const e = res.experiment!;
    console.log(`submitted ${e.specName} as ${e.id} to ${address} (${e.cellsTotal} cells; watch it from anywhere with: robustrec watch ${e.id} --orchestrator ${address})`);
    return await watchTo(c, e.id, out);
  } finally {
    c.close();
  }
}

/** Watches an experiment (by id, or the newest of a spec name) to its end. */
export async function watch(address: string, idOrSpec: string, out = process.stderr): Promise<experiment.Experiment> {
  const c = client(address);
  try {
    return await watchTo(c, await resolveId(c, idOrSpec), out);
  } finally {
    c.close();
  }
}

async function resolveId(c: experiment.ExperimentServiceClient, idOrSpec: string): Promise<string> {
  if (idOrSpec.startsWith('exp_')) return idOrSpec;
  const [newest] = (await call(c, c.listExperiments, { specName: idOrSpec })).experiments;
  if (!newest) throw new RrError('NOT_FOUND', `no experiment of spec ${idOrSpec}`);
  return newest.id;
}

async function watchTo(c: experiment.ExperimentServiceClient, id: string, out: NodeJS.WritableStream): Promise<experiment.Experiment> {
  let last: experiment.Experiment | undefined;
  const names = new Map<string, string>();
  const seen = new Map<string, string>();
  for await (const ev of iterate(c.watchExperiment({ id }, callOptions('watch')), c)) {
    last = ev.experiment ?? last;
    const e = last!;
    const head = `[${e.cellsDone + e.cellsFailed}/${e.cellsTotal}]`;
    for (const cell of ev.cells) {
      names.set(cell.key, cellName(cell));
      const state = `${CELL(cell.state)}@${cell.replica}`;
      if (seen.get(cell.key) === state) continue;
      seen.set(cell.key, state);
      if (cell.state === experiment.CellState.CELL_STATE_DONE) {
        const m = [...reportedMetrics('user'), ...reportedMetrics('target')].flatMap((k) => (cell.metrics[k] !== undefined ? [`${k} ${cell.metrics[k]!.toFixed(4)}`] : []));
        out.write(`${head} ${cellName(cell)}: ${m.join(' ')} (${cell.seconds.toFixed(0)} s on ${cell.replica})\n`);
      } else if (cell.state === experiment.CellState.CELL_STATE_FAILED) out.write(`${head} ${cellName(cell)}: FAILED: ${cell.errorCode ? `${cell.errorCode}: ` : ''}${cell.error}\n`);
      else if (cell.state === experiment.CellState.CELL_STATE_RUNNING && ev.cells.length === 1) out.write(`${head} ${cellName(cell)}: running on ${cell.replica}${cell.lostReplicas.length ? ` (moved from ${cell.lostReplicas.join(', ')})` : ''}\n`);
    }
    if (ev.progress) {
      const p = ev.progress;
      const loss = p.metrics.find((m) => m.name === 'loss');
      out.write(`${head} ${names.get(p.key) ?? p.key} epoch ${p.epoch}/${p.epochs}${loss ? ` loss ${loss.value.toFixed(4)}` : ''} eta ${p.etaSeconds.toFixed(0)}s\n`);
    }
    if (ev.log) out.write(`${ev.log}\n`);
  }
  if (!last) throw new RrError('UNAVAILABLE', `the watch of ${id} ended without a message`);
  // the final event carries the ended experiment; fetch it in case the stream ended early
  const final = (await call(c, c.getExperiment, { id })).experiment!;
  console.log(`${final.id} ${final.specName}: ${STATE(final.state)}, ${final.cellsDone} cells done, ${final.cellsFailed} failed${final.error ? ` (${final.error})` : ''}`);
  return final;
}

/** Lists experiments with their cell counts. */
export async function status(address: string): Promise<void> {
  const c = client(address);
  try {
    for (const e of (await call(c, c.listExperiments, { specName: '' })).experiments)
      console.log(`${e.id}  ${e.specName.padEnd(24)} ${STATE(e.state).padEnd(11)} ${e.cellsDone}/${e.cellsTotal} done, ${e.cellsFailed} failed, ${e.cellsRunning} running  submitted ${e.submittedAt}${e.error ? `  ${e.error}` : ''}`);
  } finally {
    c.close();
  }
}

/** Fetches the report artifacts of an experiment (id or spec name: its newest) into outDir; returns the paths. */
export async function fetchReport(address: string, idOrSpec: string, outDir: string): Promise<string[]> {
  const c = client(address);
  try {
    const id = await resolveId(c, idOrSpec);
    const files = new Map<string, Buffer>();
    for await (const piece of iterate(c.getReport({ id }, callOptions('transfer')), c)) {
      if (!/^[\w.-]+$/.test(piece.name)) throw new RrError('INTERNAL', `report file name ${JSON.stringify(piece.name.slice(0, 80))} is not a plain file name`);
      const buf = files.get(piece.name) ?? Buffer.alloc(piece.size);
      if (piece.offset + piece.data.byteLength > buf.byteLength) throw new RrError('INTERNAL', `report file ${piece.name}: piece beyond its size`);
      buf.set(piece.data, piece.offset);
      files.set(piece.name, buf);
    }
    mkdirSync(outDir, { recursive: true });
    return [...files].map(([name, buf]) => {
      writeFileSync(join(outDir, name), buf);
      return join(outDir, name);
    });
  } finally {
    c.close();
  }
}

/** Cancels a running experiment. */
export async function cancel(address: string, id: string): Promise<void> {
  const c = client(address);
  try {
    const e = (await call(c, c.cancelExperiment, { id })).experiment!;
    console.log(`${e.id} ${e.specName}: ${STATE(e.state)}, ${e.cellsDone} cells done, ${e.cellsFailed} failed`);
  } finally {
    c.close();
  }
}
