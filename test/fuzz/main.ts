/**
 * npm run test:fuzz [-- --seed N --count N --concurrency N --deadline-ms N]
 * The full campaign (default 10,000 requests; ROBUSTREC_FUZZ_SEED / ROBUSTREC_FUZZ_COUNT
 * also set seed and count): prints counts per status code, per strategy and per RPC, and
 * the findings; exits 1 when any check failed.
 */
import { parseArgs } from 'node:util';
import { failures, formatReport, runFuzz } from './run';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: process.env.ROBUSTREC_FUZZ_SEED ?? '2024' },
    count: { type: 'string', default: process.env.ROBUSTREC_FUZZ_COUNT ?? '10000' },
    concurrency: { type: 'string', default: '8' },
    'deadline-ms': { type: 'string', default: '5000' },
    quiet: { type: 'boolean', default: false },
  },
});
const num = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: expected a non-negative integer, got ${v}`);
  return n;
};
const report = await runFuzz({
  seed: num('seed', values.seed),
  count: num('count', values.count),
  concurrency: num('concurrency', values.concurrency),
  deadlineMs: num('deadline-ms', values['deadline-ms']),
  log: values.quiet ? undefined : (l) => console.error(`[fuzz] ${l}`),
});
console.log(formatReport(report));
process.exit(failures(report).length ? 1 : 0);
