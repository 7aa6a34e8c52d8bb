#!/usr/bin/env node
// CLI entry: registers the TypeScript loader, then runs the orchestrator's main module.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
