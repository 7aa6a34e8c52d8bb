import { totalmem } from 'node:os';
import { invalidArgument, resourceExhausted } from './errors';

/**
 * Per-service memory budget: the most memory one request may make a service allocate.
 * Requests whose declared or derived sizes exceed it (a 10^9-item top-k, a synthetic
 * dataset of 10^10 interactions, a model upload declaring 16 GiB of tensors, ...) are
 * refused with RESOURCE_EXHAUSTED naming the field, before anything is allocated.
 *
 * Set with the service's `memoryBudgetBytes` option or ROBUSTREC_MEMORY_BUDGET (bytes, or
 * with a unit: "512MiB", "2GiB", "1.5GB"); default: half the machine's memory, at most 4 GiB.
 */
export const MEMORY_BUDGET_ENV = 'ROBUSTREC_MEMORY_BUDGET';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 };

/** Parses "4096", "512MiB", "2GiB", "1.5GB" into bytes; INVALID_ARGUMENT naming `field` otherwise. */
export function parseBytes(text: string, field = MEMORY_BUDGET_ENV): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(bytes) || bytes <= 0) throw invalidArgument(field, `expected a positive size such as 2GiB or 536870912, got ${JSON.stringify(text.slice(0, 40))}`);
  return bytes;
}

export const defaultMemoryBudget = (): number => Math.min(4 * 1024 ** 3, Math.floor(totalmem() / 2));

/** The budget in bytes: the option, else ROBUSTREC_MEMORY_BUDGET, else the default. */
export function memoryBudget(option?: number): number {
  if (option !== undefined) {
    if (!Number.isFinite(option) || option <= 0) throw invalidArgument('memoryBudgetBytes', `must be a positive number of bytes, got ${option}`);
    return option;
  }
  const env = process.env[MEMORY_BUDGET_ENV];
  return env ? parseBytes(env) : defaultMemoryBudget();
}

/** "1.5 GiB" style size for messages. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[u]}`;
}

/**
 * Refuses (RESOURCE_EXHAUSTED naming `field`) work estimated to need more than `budget`
 * bytes. Call it with an estimate computed from the request alone, before allocating.
 */
export function checkMemory(field: string, bytes: number, budget: number, what = 'this request'): void {
  if (!(bytes <= budget))
    throw resourceExhausted(`${field}: ${what} would need about ${formatBytes(bytes)}, more than this service's memory budget of ${formatBytes(budget)} (${MEMORY_BUDGET_ENV})`);
}
