/**
 * Loaded into a benchmarked process with `--import` (loop-delay.ts): its
 * event-loop delay (perf_hooks), measured between two SIGUSR2 signals. The
 * first signal starts a fresh measurement, the second writes p50/p90/p99/max
 * to $PIGEON_LOOP_DELAY_DIR/<pid>.json. Only benchmarks load it.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

/** Sampling timer of the histogram, ms: the finest Node allows; every figure includes about this much. */
const RESOLUTION_MS = 1;

const dir = process.env.PIGEON_LOOP_DELAY_DIR;
// The main thread's loop only (worker threads load preloads too; signals reach only the main thread).
if (dir && isMainThread) {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  let measuring = false;
  process.on('SIGUSR2', () => {
    if (!measuring) {
      h.reset();
      measuring = true;
      return;
    }
    measuring = false;
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    // Written whole, then renamed: the reader waits for the name and must not see half a file.
    const file = join(dir, `${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify({ samples: h.count, p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max) }));
    renameSync(`${file}.tmp`, file);
  });
}
