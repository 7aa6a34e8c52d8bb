import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// One vitest project per workspace package, named as the package, so `vitest --project`
// and the nx `test` target of each package run just that package's tests.
const dirs = ['libs', 'services'].flatMap((d) => readdirSync(d).map((p) => `${d}/${p}`)).concat('test');
const projects = dirs
  .filter((d) => existsSync(`${d}/package.json`))
  .map((d) => ({
    test: {
      name: JSON.parse(readFileSync(`${d}/package.json`, 'utf8')).name as string,
      root: d,
      include: ['**/*.test.ts'],
      exclude: ['**/node_modules/**'],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      pool: 'forks' as const,
    },
  }));

export default defineConfig({
  test: { projects, passWithNoTests: false, reporters: ['default'] },
});
