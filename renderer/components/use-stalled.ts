/**
 * Which running transfers have moved no bytes for a while. The engine sends
 * progress every 250 ms while bytes move; a transfer whose peer vanished
 * (cable pulled, laptop closed) keeps its last rate until the session times
 * out, and a frozen "5 MB/s · 0:54 left" is a lie. This hook remembers when
 * each running transfer's byte count last changed and re-checks once a
 * second while anything runs.
 */
import { useEffect, useRef, useState } from 'react';
import type { TransferInfo } from '../../shared/api/control-api.js';

/** No new bytes for this long: the row says it waits for the peer (20 progress periods of 250 ms). */
export const STALL_MS = 5_000;
/** How often running transfers are re-checked. */
const CHECK_MS = 1_000;

export function useStalled(transfers: readonly TransferInfo[], clock: () => number = Date.now): ReadonlySet<string> {
  /** Per running transfer: its byte count and when it was first seen at that count. */
  const seen = useRef(new Map<string, { done: number; at: number }>());
  const [, setTick] = useState(0);
  const now = clock();
  const running = transfers.filter((tr) => tr.state === 'accepted');
  const stalled = new Set<string>();
  const live = new Set<string>();
  for (const tr of running) {
    live.add(tr.id);
    const last = seen.current.get(tr.id);
    if (!last || last.done !== tr.doneBytes) seen.current.set(tr.id, { done: tr.doneBytes, at: now });
    else if (now - last.at >= STALL_MS) stalled.add(tr.id);
  }
  for (const id of seen.current.keys()) if (!live.has(id)) seen.current.delete(id);

  const anyRunning = running.length > 0;
  useEffect(() => {
    if (!anyRunning) return;
    const timer = setInterval(() => setTick((n) => n + 1), CHECK_MS);
    return () => clearInterval(timer);
  }, [anyRunning]);
  return stalled;
}
