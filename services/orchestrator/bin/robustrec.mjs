#!/usr/bin/env node
// CLI entry: registers the TypeScript loader, then runs the orchestrator's main module.
import { register } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

// Both loaders: some dependencies (tfjs-core's dist files) are reached through require().
register();
registerCjs();
await import('../src/main.ts');
