/**
 * planLanding: offered paths land inside the download folder under safe,
 * fresh names; unsafe names and case-only twins are refused, never written.
 * An entry inside a folder already planned checks only its own name: the
 * plan is the one made by checking every whole path (property test).
 */
import fc from 'fast-check';
import { join, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, MAX_PATH_BYTES, numberedName, safeRelativeSegments } from '../../shared/transfer/safe-name.js';
import { planLanding, planLandingInSlices } from './landing-plan.js';

/** The plan as made before folders' names were reused: every whole path through the safe-name gate. */
function referencePlan(list: ReadonlyArray<{ idx: number; path: string; kind: 'file' | 'dir' }>, downloads: string, exists: (n: string) => boolean): Array<{ idx: number; localPath: string | null; wanted: boolean; refused?: string }> {
  const root = resolve(downloads);
  const tops = new Map<string, string>();
  const taken = new Set<string>();
  const byFolded = new Map<string, string>();
  return list.map((e) => {
    let segments: string[];
    try {
      segments = safeRelativeSegments(e.path);
    } catch (err) {
      return { idx: e.idx, localPath: null, wanted: false, refused: (err as Error).message };
    }
    let mapped = tops.get(segments[0]!);
    if (!mapped) {
      mapped = numberedName(segments[0]!, (c) => taken.has(c.toLowerCase()) || exists(c));
      tops.set(segments[0]!, mapped);
      taken.add(mapped.toLowerCase());
    }
    segments[0] = mapped;
    const localPath = root + sep + segments.join(sep);
    const earlier = byFolded.get(localPath.toLowerCase());
    if (earlier !== undefined && earlier !== localPath) return { idx: e.idx, localPath: null, wanted: false, refused: 'case' };
    byFolded.set(localPath.toLowerCase(), localPath);
    return { idx: e.idx, localPath, wanted: true };
  });
}

const ROOT = '/srv/dl';
const entries = (paths: string[]): Array<{ idx: number; path: string; kind: 'file' | 'dir' }> =>
  paths.map((path, idx) => ({ idx, path, kind: path.endsWith('/') ? 'dir' : 'file' }));

describe('planLanding', () => {
  it('keeps the offered tree under the download folder', () => {
    const { plan, refused } = planLanding(entries(['Photos', 'Photos/a.jpg', 'Photos/2026/b.jpg', 'notes.txt']), ROOT, null, () => false);
    expect(refused).toEqual([]);
    expect(plan.map((p) => p.localPath)).toEqual([join(ROOT, 'Photos'), join(ROOT, 'Photos/a.jpg'), join(ROOT, 'Photos/2026/b.jpg'), join(ROOT, 'notes.txt')]);
    expect(plan.every((p) => p.wanted)).toBe(true);
  });

  it('numbers a top-level name that already exists, for all entries below it', () => {
    const { plan } = planLanding(entries(['Photos', 'Photos/a.jpg', 'report.pdf']), ROOT, null, (n) => n === 'Photos' || n === 'report.pdf');
    expect(plan.map((p) => p.localPath)).toEqual([join(ROOT, 'Photos (1)'), join(ROOT, 'Photos (1)/a.jpg'), join(ROOT, 'report (1).pdf')]);
  });

  it('refuses unsafe names and writes them nowhere', () => {
    const { plan, refused } = planLanding(entries(['../x', '/etc/passwd', 'ok.txt', 'a/../../b']), ROOT, null, () => false);
    expect(plan.map((p) => p.localPath)).toEqual([null, null, join(ROOT, 'ok.txt'), null]);
    expect(refused.map((r) => r.path)).toEqual(['../x', '/etc/passwd', 'a/../../b']);
  });

  it('refuses a second path that differs only in letter case', () => {
    const { plan, refused } = planLanding(entries(['docs/Readme.txt', 'docs/README.txt', 'docs/readme.md']), ROOT, null, () => false);
    expect(plan.map((p) => p.localPath)).toEqual([join(ROOT, 'docs/Readme.txt'), null, join(ROOT, 'docs/readme.md')]);
    expect(refused).toEqual([{ path: 'docs/README.txt', reason: 'differs only in letter case from "docs/Readme.txt"' }]);
  });

  it('gives top-level names that differ only in case separate folders', () => {
    const { plan } = planLanding(entries(['Data/a', 'data/b']), ROOT, null, () => false);
    expect(plan.map((p) => p.localPath)).toEqual([join(ROOT, 'Data/a'), join(ROOT, 'data (1)/b')]);
  });

  it('marks only the chosen entries wanted', () => {
    const { plan } = planLanding(entries(['a', 'b', 'c']), ROOT, new Set([0, 2]), () => false);
    expect(plan.map((p) => p.wanted)).toEqual([true, false, true]);
  });

  it('in slices across turns, makes the same plan and refusals as in one go', async () => {
    const paths = ['Photos', 'Photos/a.jpg', '../x', 'docs/Readme.txt', 'docs/README.txt', 'Data/a', 'data/b', 'report.pdf', 'Photos/2026/b.jpg'];
    const exists = (n: string): boolean => n === 'Photos' || n === 'report.pdf';
    const whole = planLanding(entries(paths), ROOT, new Set([0, 1, 3, 5, 8]), exists);
    // Something queued for the next turn runs before the sliced plan is done: it gave the turn back.
    let otherWork = false;
    setImmediate(() => (otherWork = true));
    const sliced = await planLandingInSlices(entries(paths), ROOT, new Set([0, 1, 3, 5, 8]), exists, 2);
    expect(otherWork).toBe(true);
    expect(sliced).toEqual(whole);
    expect(whole.refused.length).toBe(2);
  });

  it('plans an entry inside a planned folder as the whole path\'s check does, for any names (property)', () => {
    // Names that pass, that fail one rule each, and that come back changed ('.', '\\', NFC), nested up to 6 deep, in any order.
    const name = fc.oneof(
      fc.constantFrom('a', 'A', 'b.txt', 'B.TXT', 'con', 'COM1', 'lpt9.x', 'aux_', 'x.', 'x ', '.', '..', '', 'a\\b', 'e\u0301', '\u00e9', 'a:b', '.hidden', 'CON1', 'n'.repeat(255), 'n'.repeat(256)),
      fc.stringMatching(/^[a-zA-Z0-9_.-]{1,8}$/),
    );
    const offer = fc.array(fc.tuple(fc.array(name, { minLength: 1, maxLength: 6 }), fc.boolean()), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(offer, fc.boolean(), (raw, shuffled) => {
        // Every folder on the way listed before what is inside (as a sender walks), unless shuffled.
        const paths: Array<{ path: string; kind: 'file' | 'dir' }> = [];
        for (const [segments, isDir] of raw) {
          for (let i = 1; i < segments.length; i++) paths.push({ path: segments.slice(0, i).join('/'), kind: 'dir' });
          paths.push({ path: segments.join('/'), kind: isDir ? 'dir' : 'file' });
        }
        if (shuffled) paths.reverse();
        const list = paths.map((p, idx) => ({ idx, ...p }));
        const exists = (n: string): boolean => n.toLowerCase() === 'a';
        const { plan, refused } = planLanding(list, ROOT, null, exists);
        const reference = referencePlan(list, ROOT, exists);
        expect(plan).toEqual(reference.map(({ idx, localPath, wanted }) => ({ idx, localPath, wanted })));
        expect(refused.map((r) => r.path)).toEqual(reference.filter((r) => r.refused !== undefined).map((r) => list[r.idx]!.path));
      }),
      { numRuns: 1500 },
    );
  });

  it('plans a folder of many files inside many folders as the whole path\'s check does', () => {
    const list: Array<{ idx: number; path: string; kind: 'file' | 'dir' }> = [{ idx: 0, path: 'many', kind: 'dir' }];
    for (let d = 0; d < 20; d++) {
      list.push({ idx: list.length, path: `many/d${d}`, kind: 'dir' });
      for (let f = 0; f < 20; f++) list.push({ idx: list.length, path: `many/d${d}/${f === 3 ? 'NUL.txt' : f === 4 ? 'F2' : `f${f}`}`, kind: 'file' });
    }
    const { plan, refused } = planLanding(list, ROOT, null, (n) => n === 'many');
    expect(plan).toEqual(referencePlan(list, ROOT, (n) => n === 'many').map(({ idx, localPath, wanted }) => ({ idx, localPath, wanted })));
    expect(plan[2]!.localPath).toBe(join(ROOT, 'many (1)', 'd0', 'f0'));
    expect(refused).toHaveLength(20 * 2); // NUL.txt, and F2 beside f2, in each folder
  });

  it('refuses an entry inside planned folders once it is one segment too deep or one byte too long', () => {
    const deep: string[] = [];
    for (let i = 1; i <= MAX_DEPTH + 1; i++) deep.push(Array.from({ length: i }, () => 'd').join('/'));
    const longName = 'x'.repeat(255);
    const long: string[] = ['t'];
    while (long.at(-1)!.length + 256 <= MAX_PATH_BYTES) long.push(`${long.at(-1)!}/${longName}`);
    const room = MAX_PATH_BYTES - long.at(-1)!.length - 1;
    long.push(`${long.at(-1)!}/${'y'.repeat(room)}`, `${long.at(-1)!}/${'y'.repeat(room + 1)}`);
    const list = [...deep, ...long].map((path, idx) => ({ idx, path, kind: 'dir' as const }));
    const { plan, refused } = planLanding(list, ROOT, null, () => false);
    expect(plan.slice(0, MAX_DEPTH).every((p) => p.localPath !== null)).toBe(true);
    expect(plan.at(-2)!.localPath).not.toBeNull();
    expect(refused.map((r) => r.path)).toEqual([deep.at(-1), long.at(-1)]);
    expect(plan).toEqual(referencePlan(list, ROOT, () => false).map(({ idx, localPath, wanted }) => ({ idx, localPath, wanted })));
  });
});

