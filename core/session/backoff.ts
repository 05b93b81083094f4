/**
 * Redial delays after failed connection attempts to a peer, as a table:
 * quick at first (a peer that just restarted), then slower so an unreachable
 * peer costs little. The last value repeats. A fresh announcement from the
 * peer resets the count.
 */
export const REDIAL_DELAYS_MS = [0, 500, 1000, 2000, 5000, 10000, 30000] as const;

export function redialDelay(failures: number): number {
  return REDIAL_DELAYS_MS[Math.min(failures, REDIAL_DELAYS_MS.length - 1)]!;
}
