// Worker entry that registers the TypeScript loader (tsx) and then imports the real
// TypeScript worker module, so worker_threads run .ts code the same way under `tsx`,
// vitest and plain node.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

// Both loaders: some dependencies (tfjs-core's dist files) are reached through require().
register();
registerCjs();
await import(workerData.__entry);
