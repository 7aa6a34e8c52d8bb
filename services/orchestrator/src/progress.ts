import type { common } from '@robustrec/contracts';
import { reportedMetrics } from '@robustrec/metrics';
import type { RunEvents } from './runner';
import type { Cell } from './spec';

/** Progress display: an in-place bar on a TTY, one line per epoch/cell otherwise (logs, CI). */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): RunEvents {
  const tty = stream.isTTY === true;
  let cellsDone = 0;
  let total = 0;
  const name = (c: Cell): string => `${c.dataset.name}/${c.attack.name}/${c.model.variant}/seed ${c.seed}`;
  const bar = (f: number, w = 24): string => '█'.repeat(Math.round(f * w)) + '░'.repeat(w - Math.round(f * w));
  const line = (s: string): void => {
    if (tty) stream.write(`\r\x1b[2K${s}`);
    else stream.write(`${s}\n`);
  };
  const fmtMetrics = (ms: common.Metric[]): string =>
    ms
      .filter((m) => m.name === 'loss' || m.name.startsWith('valid'))
      .map((m) => `${m.name}${m.k ? `@${m.k}` : ''} ${m.value.toFixed(4)}`)
      .join(' ');
  return {
    cellStart(cell, _i, n) {
      total = n;
      line(`[${cellsDone}/${total}] ${name(cell)}: starting`);
    },
    cellSkip(cell) {
      cellsDone++;
      if (!tty) stream.write(`skip (done earlier) ${name(cell)}\n`);
    },
    epoch(cell, epoch, epochs, metrics, eta) {
      line(`[${cellsDone}/${total}] ${bar(epoch / epochs)} ${name(cell)} epoch ${epoch}/${epochs} ${fmtMetrics(metrics)} eta ${eta.toFixed(0)}s`);
    },
    cellDone(cell, rec) {
      cellsDone++;
      const m = rec.metrics;
      const summary = rec.state === 'done'
        ? `${[...reportedMetrics('user'), ...reportedMetrics('target')].flatMap((k) => (m[k] !== undefined ? [`${k} ${m[k].toFixed(4)}`] : [])).join(' ')} (${rec.seconds.toFixed(0)} s)`
        : `FAILED: ${rec.error}`;
      line(`[${cellsDone}/${total}] ${name(cell)}: ${summary}`);
      if (tty) stream.write('\n');
    },
    log(msg) {
      if (tty) stream.write('\r\x1b[2K');
      stream.write(`${msg}\n`);
    },
  };
}
