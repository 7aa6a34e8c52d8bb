import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Competition } from './stress/competition';
import { STRESS } from './stress/handoffs';

/**
 * Every cross-thread handoff under stress (libs/core/src/helper-thread.ts states the
 * protocol's invariant): request/answer rounds through the real classes, checked exactly
 * against one thread, while CPU-burning processes oversubscribe the cores and a noise thread
 * sends stray notifies. `npm test` runs a bounded version; `npm run test:stress` sets
 * ROBUSTREC_STRESS_ROUNDS=100000 (rounds per handoff).
 */
const ROUNDS = Number(process.env.ROBUSTREC_STRESS_ROUNDS ?? 4000);
const BURNERS = Number(process.env.ROBUSTREC_STRESS_BURNERS ?? 2);

describe(`thread handoffs under stress (${ROUNDS} rounds each, ${BURNERS} CPU burners, stray notifies)`, () => {
  let comp: Competition;
  beforeAll(async () => {
    comp = await Competition.start({ burners: BURNERS, noise: true });
  });
  afterAll(async () => {
    await comp?.close();
  });

  for (const drive of STRESS)
    it(drive.name, { timeout: Math.max(120_000, ROUNDS * 5) }, async () => {
      const before = comp.strayWakeups;
      const r = await drive(ROUNDS, comp);
      console.log(`${r.handoff}: ${r.rounds} rounds in ${r.seconds.toFixed(1)} s (${((r.seconds / r.rounds) * 1e6).toFixed(1)} us/round), ${comp.strayWakeups - before} stray wake-ups delivered`);
      expect(r.rounds).toBeGreaterThanOrEqual(ROUNDS);
    });
});
