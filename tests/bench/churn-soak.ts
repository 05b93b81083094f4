/**
 * `npm run soak:churn`: the churn of issue 12 for 20 minutes, 20 peers in
 * network namespaces (the scenario of tests/netns/churn.test.ts). Prints sent,
 * delivered, duplicated, out-of-order and stuck counts; writes
 * bench-results/churn.*. PIGEON_CHURN_PEERS, PIGEON_CHURN_S and
 * PIGEON_CHURN_SEED override it. Needs root.
 */
import { churnFailures, ChurnRun } from '../support/churn-run.js';
import { netnsUnavailable } from '../support/netns.js';
import { writeSoak } from './soak-output.js';

/** The soak: 20 peers for 20 minutes. */
const PEERS = Number(process.env.PIGEON_CHURN_PEERS ?? 20);
const DURATION_MS = Number(process.env.PIGEON_CHURN_S ?? 1200) * 1000;
const SEED = process.env.PIGEON_CHURN_SEED ? Number(process.env.PIGEON_CHURN_SEED) : undefined;

async function main(): Promise<void> {
  const skip = await netnsUnavailable();
  if (skip) {
    process.stderr.write(`soak:churn cannot run: ${skip}\n`);
    process.exitCode = 2;
    return;
  }
  const churn = new ChurnRun({ peers: PEERS, durationMs: DURATION_MS, seed: SEED });
  try {
    const f = await churn.run();
    writeSoak(
      'churn',
      `Churn of ${PEERS} peers for ${DURATION_MS / 1000} s (seed ${f.seed})`,
      f,
      [
        ['disruptions: quick restarts / slow restarts / cable pulls', `${f.actions.quickRestarts} / ${f.actions.slowRestarts} / ${f.actions.cables}`],
        ['sent (accepted by the sending peer)', f.sent],
        ['delivered', f.delivered],
        ['duplicated / out of order / stuck / misrouted', `${f.duplicated} / ${f.outOfOrder} / ${f.stuck} / ${f.misrouted}`],
        ['all delivered after the last restore', f.settledMs === null ? `no (${f.stuckAfterGrace} still stuck after the grace period)` : `${f.settledMs} ms`],
        ['killed mid-request (unconfirmed) / of which delivered', `${f.unconfirmed} / ${f.unconfirmedDelivered}`],
        ['refused by the sending peer', `${f.refused} ${JSON.stringify(f.refusedCodes)}`],
      ],
      churnFailures(f),
    );
  } finally {
    await churn.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`soak:churn failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
