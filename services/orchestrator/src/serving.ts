/**
 * The serving commands of the robustrec CLI (main.ts dispatches here):
 *
 *   robustrec export MODEL --format tfjs|npy --out DIR
 *   robustrec score --model MODEL --users FILE --out FILE [--k 20] [--include-seen]
 *   robustrec alias set NAME ALIAS VERSION | alias list [NAME] | alias rm NAME ALIAS
 *
 * MODEL is name, name@VERSION, name@ALIAS ("production", "latest") or id:MODEL_ID. With
 * --evaluator ADDR they talk to a running evaluator; otherwise they start the data and
 * evaluator services in this process on --home (state directory).
 */
import { createReadStream, createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { evaluator, scoring } from '@robustrec/contracts';
import { homeDir, RrError } from '@robustrec/core';
import { call, createClient, downloadModel } from '@robustrec/grpc';
import { startDataService } from '@robustrec/data-service';
import { EXPORT_FORMATS, startEvaluatorService, writeExport, type ExportFormat } from '@robustrec/evaluator-service';

export const SERVING_COMMANDS = ['export', 'score', 'alias'] as const;

export const SERVING_USAGE = `  export MODEL --format tfjs|npy --out DIR
                            write a model for other runtimes: a TensorFlow.js LayersModel (model.json + shards) or .npy tensors
  score --model MODEL --users FILE --out FILE [--k 20] [--include-seen]
                            top-k of every user in FILE (one id per line) on the batch path; .jsonl or TSV output
  alias set NAME ALIAS VERSION | alias list [NAME] | alias rm NAME ALIAS
                            move a model alias (production, staging, ...) atomically; MODEL = name[@version|@alias] or id:ID
`;

/** Most users one RecommendMany asks for (the evaluator's default batch limit is 10,000). */
const CHUNK = 5000;
/** Most users a --users file may list. */
const MAX_USERS = 50_000_000;

/** Parses MODEL: name, name@3, name@production, id:ID. */
export function parseModelRef(s: string): evaluator.ModelRef {
  if (s.startsWith('id:')) return { id: s.slice(3), name: '', version: 0, alias: '' };
  const at = s.lastIndexOf('@');
  if (at <= 0) return { id: '', name: s, version: 0, alias: '' };
  const name = s.slice(0, at);
  const tail = s.slice(at + 1);
  if (/^\d+$/.test(tail)) {
    if (!/^[1-9]\d{0,8}$/.test(tail)) throw new RrError('INVALID_ARGUMENT', `MODEL ${s}: the version must be a positive number`);
    return { id: '', name, version: Number(tail), alias: '' };
  }
  return { id: '', name, version: 0, alias: tail };
}

/** Runs fn against an evaluator: --evaluator's, or data + evaluator services started here on home. */
async function withEvaluator<T>(address: string | undefined, home: string, fn: (address: string) => Promise<T>): Promise<T> {
  if (address) return fn(address);
  const dataSrv = await startDataService({ home });
  const evalSrv = await startEvaluatorService({ home, dataAddress: dataSrv.address });
  try {
    return await fn(evalSrv.address);
  } finally {
    await evalSrv.shutdown();
    await dataSrv.shutdown();
  }
}

/** A progress bar on a TTY (in place), one line per 10% otherwise. */
export function progressBar(total: number, stream: NodeJS.WriteStream = process.stderr): { update(done: number): void; end(): void } {
  const t0 = performance.now();
  let lastTenth = -1;
  const render = (done: number): string => {
    const f = total ? done / total : 1;
    const w = 30;
    const secs = (performance.now() - t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    return `[${'█'.repeat(Math.round(f * w))}${'░'.repeat(w - Math.round(f * w))}] ${done}/${total} users ${(100 * f).toFixed(0)}% ${rate.toFixed(0)} users/s`;
  };
  return {
    update(done) {
      if (stream.isTTY) stream.write(`\r\x1b[2K${render(done)}`);
      else {
        const tenth = Math.floor((10 * done) / Math.max(1, total));
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          stream.write(`${render(done)}\n`);
        }
      }
    },
    end() {
      if (stream.isTTY) stream.write('\n');
    },
  };
}

/** User ids of a file: integers separated by newlines (or whitespace, commas); '#' starts a comment. Errors name file:line. */
export async function readUsers(file: string): Promise<Uint32Array> {
  if (!existsSync(file)) throw new RrError('NOT_FOUND', `--users: file not found: ${file}`);
  const out: number[] = [];
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    line++;
    for (const tok of text.replace(/#.*/, '').split(/[\s,]+/)) {
      if (!tok) continue;
      if (!/^\d{1,10}$/.test(tok) || Number(tok) > 0xffffffff) throw new RrError('INVALID_ARGUMENT', `${basename(file)}:${line}: ${JSON.stringify(tok.slice(0, 32))} is not a user id (a non-negative integer)`);
      out.push(Number(tok));
      if (out.length > MAX_USERS) throw new RrError('RESOURCE_EXHAUSTED', `${basename(file)}:${line}: more than ${MAX_USERS} users`);
    }
  }
  if (!out.length) throw new RrError('INVALID_ARGUMENT', `--users: ${basename(file)} lists no user ids`);
  return Uint32Array.from(out);
}

/**
 * Scores users on the evaluator's batch path (RecommendMany, two chunks in flight) and writes
 * one line per user to out: JSON lines for .jsonl/.json, else TSV (user, items, scores).
 * The model reference is resolved once, so an alias moved during the run does not mix versions.
 * The file appears under its name only when complete.
 */
export async function scoreUsers(address: string, ref: evaluator.ModelRef, users: Uint32Array, k: number, includeSeen: boolean, out: string, progress = progressBar(users.length)): Promise<{ model: evaluator.Model; seconds: number }> {
  const rc = createClient(evaluator.ModelRegistryServiceClient, address);
  const sc = createClient(scoring.ScoringServiceClient, address);
  const tmp = join(dirname(resolve(out)), `.${basename(out)}.tmp-${process.pid}`);
  const json = /\.jsonl?$/.test(out);
  const ws = createWriteStream(tmp);
  const t0 = performance.now();
  try {
    const model = (await call(rc, rc.getModel, { model: ref })).model!;
    const pinned = { id: model.id, name: '', version: 0, alias: '' };
    if (!json) ws.write('user\titems\tscores\n');
    const chunks: Array<[number, number]> = [];
    for (let s = 0; s < users.length; s += CHUNK) chunks.push([s, Math.min(users.length, s + CHUNK)]);
    const ask = ([s, e]: [number, number]) => call(sc, sc.recommendMany, { model: pinned, users: Array.from(users.subarray(s, e)), k, includeSeen }, { kind: 'work' });
    let done = 0;
    progress.update(0);
    let next = chunks.length ? ask(chunks[0]!) : undefined;
    for (let c = 0; c < chunks.length; c++) {
      const res = await next!;
      // the next chunk is ranked while this one is written
      next = c + 1 < chunks.length ? ask(chunks[c + 1]!) : undefined;
      const [s, e] = chunks[c]!;
      let text = '';
      for (let i = 0; i < e - s; i++) {
        let n = 0;
        while (n < res.k && res.items[i * res.k + n]! >= 0) n++;
        const items = res.items.slice(i * res.k, i * res.k + n);
        const scores = res.scores.slice(i * res.k, i * res.k + n).map((x) => Math.fround(x));
        text += json ? `${JSON.stringify({ user: users[s + i], items, scores })}\n` : `${users[s + i]}\t${items.join(',')}\t${scores.join(',')}\n`;
      }
      if (!ws.write(text)) await new Promise<void>((r) => ws.once('drain', () => r()));
      done = e;
      progress.update(done);
    }
    await new Promise<void>((r, j) => ws.end((err?: Error | null) => (err ? j(err) : r())));
    renameSync(tmp, out);
    progress.end();
    return { model, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    ws.destroy();
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    rc.close();
    sc.close();
  }
}

/** robustrec export / score / alias (argv: the command and its arguments). */
export async function servingCommand(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      home: { type: 'string' },
      evaluator: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      users: { type: 'string' },
      k: { type: 'string', default: '20' },
      'include-seen': { type: 'boolean', default: false },
    },
  });
  const home = resolve(values.home ?? homeDir());
  const [cmd, ...args] = positionals;
  switch (cmd) {
    case 'export': {
      const spec = args[0];
      if (!spec) throw new RrError('INVALID_ARGUMENT', 'export: MODEL is required (name, name@version, name@alias or id:ID)');
      const format = values.format as ExportFormat | undefined;
      if (!format || !(EXPORT_FORMATS as readonly string[]).includes(format)) throw new RrError('INVALID_ARGUMENT', `--format: one of ${EXPORT_FORMATS.join(', ')}${format ? `, got ${JSON.stringify(format)}` : ''}`);
      if (!values.out) throw new RrError('INVALID_ARGUMENT', '--out DIR is required');
      const out = resolve(values.out);
      await withEvaluator(values.evaluator, home, async (address) => {
        const { header, tensors } = await downloadModel(address, parseModelRef(spec));
        const files = writeExport(format, header, tensors, out);
        console.log(`${header.name} v${header.version} (${header.id}, ${header.backbone}+${header.defense}) exported as ${format} to ${out}:\n${files.map((f) => `  ${f}`).join('\n')}`);
      });
      return;
    }
    case 'score': {
      if (!values.model || !values.users || !values.out) throw new RrError('INVALID_ARGUMENT', 'score needs --model MODEL --users FILE --out FILE');
      const k = Number(values.k);
      if (!Number.isInteger(k) || k < 1) throw new RrError('INVALID_ARGUMENT', `--k: must be a positive integer, got ${values.k}`);
      const users = await readUsers(values.users);
      const out = resolve(values.out);
      await withEvaluator(values.evaluator, home, async (address) => {
        const r = await scoreUsers(address, parseModelRef(values.model!), users, k, values['include-seen']!, out);
        console.log(`${users.length} users scored with ${r.model.name} v${r.model.version} (${r.model.id}), top-${k}${values['include-seen'] ? '' : ' excluding seen items'}, in ${r.seconds.toFixed(2)} s (${(users.length / r.seconds).toFixed(0)} users/s): ${out}`);
      });
      return;
    }
    case 'alias': {
      const [sub, name, alias, version] = args;
      await withEvaluator(values.evaluator, home, async (address) => {
        const rc = createClient(evaluator.ModelRegistryServiceClient, address);
        try {
          if (sub === 'set') {
            if (!name || !alias || !version) throw new RrError('INVALID_ARGUMENT', 'alias set NAME ALIAS VERSION');
            const r = await call(rc, rc.setAlias, { name, alias, version: Number(version) });
            console.log(`${name}@${alias} -> v${r.alias!.version} (${r.alias!.modelId}), was ${r.previousVersion ? `v${r.previousVersion}` : 'unset'}`);
          } else if (sub === 'list') {
            for (const a of (await call(rc, rc.listAliases, { name: name ?? '' })).aliases) console.log(`${a.name}@${a.alias}  v${a.version}  ${a.modelId}  ${a.updatedAt}`);
          } else if (sub === 'rm') {
            if (!name || !alias) throw new RrError('INVALID_ARGUMENT', 'alias rm NAME ALIAS');
            const a = (await call(rc, rc.deleteAlias, { name, alias })).alias!;
            console.log(`removed ${a.name}@${a.alias} (was v${a.version})`);
          } else throw new RrError('INVALID_ARGUMENT', `alias what? set, list or rm (got ${sub ?? 'nothing'})`);
        } finally {
          rc.close();
        }
      });
      return;
    }
    default:
      throw new RrError('INVALID_ARGUMENT', `not a serving command: ${cmd}`);
  }
}
