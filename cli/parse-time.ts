/**
 * Parses the TIME of `pigeon send --at TIME`: an ISO 8601 date-time
 * ("2026-11-24T17:30", "2026-11-24 17:30:00Z"), a clock time today
 * ("17:30", tomorrow if already past), or a delay ("+90s", "+10m", "+2h", "+1d").
 */
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseTime(text: string, now: Date = new Date()): number {
  const t = text.trim();
  const rel = /^\+(\d+(?:\.\d+)?)([smhd])$/.exec(t);
  if (rel) return now.getTime() + Math.round(Number(rel[1]) * UNIT_MS[rel[2]!]!);
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(t);
  if (clock) {
    const [h, m, s] = [Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0)];
    if (h > 23 || m > 59 || s > 59) throw new Error(`invalid time "${text}"`);
    const d = new Date(now);
    d.setHours(h, m, s, 0);
    if (d.getTime() <= now.getTime()) d.setDate(d.getDate() + 1);
    return d.getTime();
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.exec(t);
  if (iso) {
    const [y, mo, d, h = 0, mi = 0, sec = 0] = iso.slice(1).map((v) => (v === undefined ? undefined : Number(v))) as number[];
    // Date.parse rolls 30 February over into March; a date that does not exist is an error.
    const real = new Date(Date.UTC(y!, mo! - 1, d!));
    const valid = real.getUTCMonth() === mo! - 1 && real.getUTCDate() === d! && h! < 24 && mi! < 60 && sec! < 60;
    const ms = Date.parse(t.replace(' ', 'T'));
    if (valid && Number.isFinite(ms)) return ms;
  }
  throw new Error(`invalid time "${text}": use an ISO date-time (2026-11-24T17:30), a clock time (17:30) or a delay (+10m)`);
}
