/**
 * planLanding: offered paths land inside the download folder under safe,
 * fresh names; unsafe names and case-only twins are refused, never written.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planLanding, planLandingInSlices } from './landing-plan.js';

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
});
