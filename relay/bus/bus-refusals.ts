/**
 * Counts and logs the bus messages an instance refused (bus-messages.ts):
 * an error line with the stable code, what was refused and why, and the
 * sender when the message named one. The count is the
 * `pigeon_relay_bus_refused_total` metric. Nothing refused is acted on.
 */
import type { RelayLogger } from '../log.js';
import type { BusRefusal, BusRefusalCode } from './bus-messages.js';

/**
 * One log line per code per this long: an instance of another version
 * sends every presence refresh and every frame, and thousands of identical
 * lines would bury the first; the next line says how many it stands for.
 */
export const REFUSAL_LOG_MS = 10_000;

export class BusRefusals {
  private total = 0;
  private readonly lines = new Map<BusRefusalCode, { at: number; unlogged: number }>();

  constructor(
    private readonly logger: RelayLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** `what` names the subject without its variable parts (a pipe key is a secret while it waits). */
  refuse(what: string, r: BusRefusal): void {
    this.total++;
    const line = this.lines.get(r.code);
    const now = this.now();
    if (line && now - line.at < REFUSAL_LOG_MS) {
      line.unlogged++;
      return;
    }
    const unlogged = line?.unlogged ?? 0;
    this.lines.set(r.code, { at: now, unlogged: 0 });
    this.logger.log('error', 'relay bus message refused', { code: r.code, subject: what, reason: r.reason, ...(r.instance !== undefined ? { instance: r.instance } : {}), ...(unlogged > 0 ? { alsoRefusedSinceLastLine: unlogged } : {}) });
  }

  /** Messages refused since start. */
  get count(): number {
    return this.total;
  }
}
