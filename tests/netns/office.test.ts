/**
 * Office scale (issue 12, "1/6 an office of 150"): N `pigeon peer` processes
 * with default options, each in its own network namespace on one bridge,
 * started as a crowd a tenth of a second apart. Every peer must list all N−1
 * online within 10 s of the last one listening (the time from the last start
 * is printed too: on 2 cores, starting 60 Node processes alone takes longer
 * than 10 s; office-run.ts says why), and print no false `peer-offline`
 * over the hold (nobody stops, so every one is false); one more peer joining
 * afterwards must be listed both ways within 10 s too. Prints join time,
 * false offline counts, listed counts, packets per join, idle CPU and RSS.
 *
 * CI size: N = 60, 2-minute hold. PIGEON_OFFICE_PEERS and PIGEON_OFFICE_HOLD_S
 * change them; `npm run soak:office` runs 150 peers for 10 minutes.
 * Needs root and iproute2; skipped with the reason otherwise.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { netnsUnavailable } from '../support/netns.js';
import { officeFailures, OfficeRun } from '../support/office-run.js';

const skipReason = await netnsUnavailable();
if (skipReason) console.warn(`tests/netns/office.test.ts skipped: ${skipReason}`);

/** CI size from the issue: 60 peers, a 2-minute hold. */
const PEERS = Number(process.env.PIGEON_OFFICE_PEERS ?? 60);
const HOLD_MS = Number(process.env.PIGEON_OFFICE_HOLD_S ?? 120) * 1000;
/** Measured beyond the pass mark, so that a late join still gets a figure. */
const JOIN_LIMIT_MS = 45_000;
/** Crowd start (N × 0.1 s plus a slow start), join limit twice (crowd, newcomer), hold, and teardown. */
const TEST_MS = PEERS * 100 + 120_000 + 2 * JOIN_LIMIT_MS + HOLD_MS + 60_000;

describe.skipIf(skipReason !== null)(`an office of ${PEERS} peers on one bridge`, () => {
  const office = new OfficeRun({ peers: PEERS, holdMs: HOLD_MS, joinLimitMs: JOIN_LIMIT_MS });

  afterAll(async () => {
    await office.cleanup();
  }, 120_000);

  it(
    `lists every colleague within 10 s of the crowd's last one listening and shows no running one offline over a ${HOLD_MS / 1000} s hold`,
    async () => {
      // Every figure is printed by run() before this, so a failing run still reports them all.
      const f = await office.run();
      expect(officeFailures(f).join('\n')).toBe('');
    },
    TEST_MS,
  );
});
