/**
 * `--at TIME` that lands on another day is said before it is accepted
 * (issue 14, item 6): "00:01" at 11:00 means tomorrow, and the user sees
 * "tomorrow 00:01 (Sun 6 Dec)" first. On a terminal the command asks; in a
 * script (stdin not a terminal) it refuses unless --yes says the user meant
 * it, so nothing is ever scheduled for tomorrow silently. An explicit date
 * or a delay (+10m) says what it means and needs no confirmation.
 */
import { createInterface } from 'node:readline/promises';
import { ErrorCodes, PigeonError } from '../shared/protocol/errors.js';
import { parseTime } from './parse-time.js';

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTH_NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "tomorrow 00:01 (Sun 6 Dec)" for a clock time that rolled over to the next day, else null. */
export function rolloverNote(text: string, at: number, now: Date = new Date()): string | null {
  if (!/^\d{1,2}:\d{2}(:\d{2})?$/.test(text.trim())) return null;
  const d = new Date(at);
  if (d.toDateString() === now.toDateString()) return null;
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  return `tomorrow ${hm} (${DAY_NAMES[d.getDay()]} ${d.getDate()} ${MONTH_NAMES[d.getMonth()]})`;
}

/**
 * Parses --at and confirms a time that means tomorrow: with --yes, or by
 * asking on a terminal; otherwise refuses (BAD_REQUEST, exit 2) saying what
 * the time means and how to confirm it.
 */
export async function confirmedTime(text: string, yes: boolean, now: Date = new Date()): Promise<number> {
  let at: number;
  try {
    at = parseTime(text, now);
  } catch (err) {
    throw new PigeonError(ErrorCodes.BAD_REQUEST, (err as Error).message);
  }
  const note = rolloverNote(text, at, now);
  if (note === null || yes) return at;
  if (process.stdin.isTTY && process.stderr.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`${text} has passed today: send ${note}? [y/N] `);
      if (/^y(es)?$/i.test(answer.trim())) return at;
    } finally {
      rl.close();
    }
    throw new PigeonError(ErrorCodes.BAD_REQUEST, 'not scheduled');
  }
  throw new PigeonError(ErrorCodes.BAD_REQUEST, `${text} has passed today: it means ${note}. Add --yes to schedule it then, or give the date: --at ${isoLocal(at)}`);
}

/** 2026-12-06T00:01 in local time. */
function isoLocal(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
