import { describe, expect, it } from 'vitest';
import { startHelper } from '../src/index';

describe('a helper whose module fails to load', () => {
  const broken = new URL('./fixtures/broken-helper.ts', import.meta.url);

  it('fails a blocked wait within a second or two, with the module error, not after the link timeout', async () => {
    const h = startHelper(broken, 'broken', {}, { timeoutMs: 60_000 });
    try {
      h.link.post(1);
      const t0 = Date.now();
      // the caller blocks in Atomics.wait: the worker's 'error' event cannot reach it
      expect(() => h.link.wait()).toThrow('broken thread failed: its module did not load: Error: broken on purpose');
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await h.close();
    }
  }, 30_000);

  it('rejects an awaiting caller the same way', async () => {
    const h = startHelper(broken, 'broken', {}, { timeoutMs: 60_000 });
    try {
      h.link.post(1);
      // the bootstrap reports before it rethrows, so the report is read before the 'error' event's text
      await expect(h.link.settled()).rejects.toThrow('broken thread failed: its module did not load: Error: broken on purpose');
    } finally {
      await h.close();
    }
  }, 30_000);
});
