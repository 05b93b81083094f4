/**
 * Where the entries of an accepted offer land in the download folder. Every
 * offered path passes the safe-name gate; a top-level name that already
 * exists gets a number, so nothing already there is written into or over;
 * two entries whose paths differ only in letter case are not both accepted,
 * since they would be one file on Windows and macOS disks.
 */
import { resolve, sep } from 'node:path';
import { isPlainChild, isPrintableAscii, numberedName, safeRelativeSegments } from '../../shared/transfer/safe-name.js';

export interface PlannedEntry {
  idx: number;
  localPath: string | null;
  wanted: boolean;
}

export interface Refusal {
  path: string;
  reason: string;
}

/** An offered entry as the plan needs it. */
type OfferedEntry = { idx: number; path: string; kind: 'file' | 'dir' };

/**
 * The plan made one entry at a time, in the offer's order (so that it can be
 * made in slices between turns of the event loop: planLandingInSlices).
 */
function landingPlanner(downloads: string, chosen: ReadonlySet<number> | null, exists: (topName: string) => boolean): { add: (e: OfferedEntry) => PlannedEntry; refused: Refusal[] } {
  const root = resolve(downloads);
  // Checked segments hold no separator, '.' or '..': joined by hand, the same path as join() would make, without its normalising pass.
  const under = root.endsWith(sep) ? root : root + sep;
  const tops = new Map<string, string>();
  const taken = new Set<string>();
  const byFoldedPath = new Map<string, string>();
  const refused: Refusal[] = [];
  /**
   * Folders planned whose offered path is printable ASCII and came back from
   * the safe-name gate unchanged: their landing and depth, so that an entry
   * directly inside one checks only its own name (isPlainChild).
   */
  const plainDirs = new Map<string, { localPath: string; depth: number }>();
  const add = (e: OfferedEntry): PlannedEntry => {
    const wanted = chosen === null || chosen.has(e.idx);
    const slash = e.path.lastIndexOf('/');
    const parent = slash > 0 ? plainDirs.get(e.path.slice(0, slash)) : undefined;
    const name = parent ? e.path.slice(slash + 1) : '';
    let localPath: string;
    /** Segments of a plain folder's path (its entries may reuse it), else 0. */
    let depth: number;
    if (parent && isPlainChild(e.path.slice(0, slash), parent.depth, name)) {
      localPath = parent.localPath + sep + name;
      depth = parent.depth + 1;
    } else {
      let segments: string[];
      try {
        segments = safeRelativeSegments(e.path);
      } catch (err) {
        refused.push({ path: e.path, reason: (err as Error).message });
        return { idx: e.idx, localPath: null, wanted: false };
      }
      const plain = e.kind === 'dir' && isPrintableAscii(e.path) && segments.join('/') === e.path;
      const top = segments[0]!;
      let mapped = tops.get(top);
      if (!mapped) {
        mapped = numberedName(top, (c) => taken.has(c.toLowerCase()) || exists(c));
        tops.set(top, mapped);
        taken.add(mapped.toLowerCase());
      }
      segments[0] = mapped;
      localPath = under + segments.join(sep);
      depth = plain ? segments.length : 0;
    }
    if (!localPath.startsWith(root + sep)) {
      refused.push({ path: e.path, reason: 'outside the download folder' });
      return { idx: e.idx, localPath: null, wanted: false };
    }
    const folded = localPath.toLowerCase();
    const earlier = byFoldedPath.get(folded);
    if (earlier !== undefined && earlier !== localPath) {
      refused.push({ path: e.path, reason: `differs only in letter case from ${JSON.stringify(earlier.slice(root.length + 1))}` });
      return { idx: e.idx, localPath: null, wanted: false };
    }
    byFoldedPath.set(folded, localPath);
    if (e.kind === 'dir' && depth > 0) plainDirs.set(e.path, { localPath, depth });
    return { idx: e.idx, localPath, wanted };
  };
  return { add, refused };
}

/**
 * `exists(name)` says whether a top-level name (or its partial file) is taken
 * in the download folder; `chosen` is null for "accept all".
 */
export function planLanding(entries: readonly OfferedEntry[], downloads: string, chosen: ReadonlySet<number> | null, exists: (topName: string) => boolean): { plan: PlannedEntry[]; refused: Refusal[] } {
  const planner = landingPlanner(downloads, chosen, exists);
  return { plan: entries.map(planner.add), refused: planner.refused };
}

/**
 * The same plan, made `slice` entries per turn of the event loop: the plan
 * of a folder of 10,000 files took ~150 ms in one go on a loaded machine,
 * and chat to the receiver waited behind it.
 */
export async function planLandingInSlices(
  entries: readonly OfferedEntry[],
  downloads: string,
  chosen: ReadonlySet<number> | null,
  exists: (topName: string) => boolean,
  slice: number,
): Promise<{ plan: PlannedEntry[]; refused: Refusal[] }> {
  const planner = landingPlanner(downloads, chosen, exists);
  const plan: PlannedEntry[] = [];
  for (let i = 0; i < entries.length; i += slice) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    for (const e of entries.slice(i, i + slice)) plan.push(planner.add(e));
  }
  return { plan, refused: planner.refused };
}
