// Worker entry that registers the TypeScript loader (tsx) and then imports the real
// TypeScript worker module, so worker_threads run .ts code the same way under `tsx`,
// vitest and plain node.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.__entry);
