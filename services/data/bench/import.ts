import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gowallaDir, hostDescription, peakRssBytes } from '@robustrec/core';
import { statistics } from '@robustrec/data';
import { DataStore } from '../src/store';

// npm run bench:data — full Gowalla import (LightGCN text -> binary CSR + SQLite catalogue)
// into a temp home; prints counts, seconds, peak RSS and the Table-3 statistics.
const dir = gowallaDir();
if (!dir) {
  console.error('Gowalla not found: set ROBUSTREC_DATASETS_DIR to a directory holding gowalla/train.txt');
  process.exit(1);
}
const home = mkdtempSync(join(tmpdir(), 'rr-bench-data-'));
try {
  const store = DataStore.open(home, { roots: [dir] });
  const rssBefore = peakRssBytes();
  let t = performance.now();
  const r = await store.importLightGcn(dir, { name: 'gowalla' });
  const importS = (performance.now() - t) / 1000;
  t = performance.now();
  const again = await store.importLightGcn(dir, { name: 'gowalla' });
  const reimportS = (performance.now() - t) / 1000;
  t = performance.now();
  const fresh = DataStore.open(home, { roots: [dir] });
  const d = fresh.load(r.dataset.id);
  const loadS = (performance.now() - t) / 1000;
  const s = statistics(d);
  const merged = await store.importLightGcn(dir, { name: 'gowalla-merged', mergeValidIntoTrain: true });
  const mb = (b: number): string => (b / 2 ** 20).toFixed(0);
  const ds = r.dataset;
  console.log(`host: ${hostDescription()}, node ${process.version}`);
  console.log(`dataset: ${ds.id} users ${ds.numUsers} items ${ds.numItems} interactions ${ds.numTrain + ds.numValid + ds.numTest} (train ${ds.numTrain}, valid ${ds.numValid}, test ${ds.numTest}; merged train ${merged.dataset.numTrain})`);
  console.log(`import: ${importS.toFixed(3)} s (parse + CSR + sha256 + files + catalogue); re-import (existed=${again.existed}): ${reimportS.toFixed(3)} s; load with checksum verification: ${loadS.toFixed(3)} s`);
  console.log(`peak RSS: ${mb(peakRssBytes())} MB (before import: ${mb(rssBefore)} MB)`);
  console.log(
    `Table 3: users ${s.users}, items ${s.items}, interactions ${s.interactions}, avg/user ${s.avgInteractionsPerUser.toFixed(2)}, sparsity ${(s.sparsity * 100).toFixed(3)}%`,
  );
  const pop = Array.from(s.itemPopularity).sort((a, b) => b - a);
  const total = pop.reduce((a, b) => a + b, 0);
  console.log(`item popularity (train): max ${pop[0]}, median ${pop[Math.floor(pop.length / 2)]}, top-10% items hold ${((pop.slice(0, Math.ceil(pop.length / 10)).reduce((a, b) => a + b, 0) / total) * 100).toFixed(1)}% of interactions`);
  store.close();
  fresh.close();
} finally {
  rmSync(home, { recursive: true, force: true });
}
