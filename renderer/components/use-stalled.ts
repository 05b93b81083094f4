/**
 * Which running transfers have moved no bytes for a while. The engine sends
 * progress every 250 ms while bytes move; a transfer whose peer vanished
 * (cable pulled, laptop closed) keeps its last rate until the session times
 * out, and a frozen "5 MB/s · 0:54 left" is a lie. This hook watches the
 * byte counts and re-checks once a second while anything runs.
 */
import { useEffect, useRef, useState } from 'react';
import type { TransferInfo } from '../../shared/api/control-api.js';

/** No new bytes for this long: the row says it waits for the peer (20 progress periods of 250 ms). */
export const STALL_MS = 5_000;
/** How often a running transfer is re-checked. */
const CHECK_MS = 1_000;

export function useStalled(transfers: readonly TransferInfo[], clock: () => number = Date.now): ReadonlySet<string> {
  const seen = useRef(new Map<string, { done: number; at: number }>());
  const [now, setNow] = useState(clock);
  const running = transfers.filter((tr) => tr.state === 'accepted');
  const now2 = clock();
  for (const tr of running) {
    const last = seen.current.get(tr.id);
    if (!last || last.done !== tr.doneBytes) seen.current.set(tr.id, { done: tr.doneBytes, at: now2 });
  }
  const anyRunning = running.length > 0;
  useEffect(() => {
    if (!anyRunning) return;
    const timer = setInterval(() => setNow(clock()), CHECK_MS);
    return () => clearInterval(timer);
  }, [anyRunning, clock]);
  const stalled = new Set<string>();
  for (const tr of running) {
    const last = seen.current.get(tr.id);
    if (last && Math.max(now, now2) - last.at >= STALL_MS) stalled.add(tr.id);
  }
  return stalled;
}
