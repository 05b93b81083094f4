/**
 * Test support: room in the kernel's neighbour (ARP) table for a LAN of many
 * namespaces. Every namespace of one machine counts against one limit
 * (net.ipv4.neigh.default.gc_thresh3, 1024 by default): at 40 hosts that all
 * talk to each other the table overflows, and any send that needs a new
 * entry (a broadcast alive included) fails with ENOBUFS, which shows up as
 * contacts flapping offline. Real PCs each have their own kernel and table,
 * so a test LAN raises the limit while it lives, and puts the machine's
 * values back when the last LAN of any test process is gone (a holders file
 * in the temporary folder says who still needs the room).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIR = '/proc/sys/net/ipv4/neigh/default';
const HOLDERS = join(tmpdir(), 'pigeon-test-neighbour-table.json');
/** Below this many hosts the default table is roomy enough (30 hosts: no overflow seen). */
const SMALL_LAN = 24;

interface Holders {
  /** The machine's values before the first holder raised them. */
  saved: { gc_thresh2: number; gc_thresh3: number };
  /** pid → tag of each LAN that needs the room. */
  holders: Record<string, string>;
}

function read(name: string): number {
  return Number(readFileSync(join(DIR, name), 'utf8').trim());
}

function write(name: string, value: number): void {
  writeFileSync(join(DIR, name), String(value));
}

function alive(pid: string): boolean {
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch {
    return false;
  }
}

function load(): Holders | null {
  if (!existsSync(HOLDERS)) return null;
  try {
    const h = JSON.parse(readFileSync(HOLDERS, 'utf8')) as Holders;
    for (const pid of Object.keys(h.holders)) if (!alive(pid)) delete h.holders[pid];
    return h;
  } catch {
    return null;
  }
}

/**
 * Makes room for `hosts` hosts that each may know every other (hosts² entries,
 * doubled for the switch and for entries on their way out). Returns a release
 * function; a no-op for small LANs or where /proc/sys cannot be written.
 */
export function roomForHosts(hosts: number, tag: string): () => void {
  if (hosts < SMALL_LAN || !existsSync(DIR)) return () => {};
  const needed = 2 * hosts * hosts + 1024;
  try {
    const state = load() ?? { saved: { gc_thresh2: read('gc_thresh2'), gc_thresh3: read('gc_thresh3') }, holders: {} };
    if (read('gc_thresh3') < needed) write('gc_thresh3', needed);
    if (read('gc_thresh2') < needed / 2) write('gc_thresh2', Math.floor(needed / 2));
    state.holders[`${process.pid}`] = tag;
    writeFileSync(HOLDERS, JSON.stringify(state));
  } catch {
    return () => {};
  }
  return () => {
    const state = load();
    if (!state) return;
    delete state.holders[`${process.pid}`];
    if (Object.keys(state.holders).length > 0) return void writeFileSync(HOLDERS, JSON.stringify(state));
    try {
      write('gc_thresh2', state.saved.gc_thresh2);
      write('gc_thresh3', state.saved.gc_thresh3);
    } finally {
      writeFileSync(HOLDERS, '');
      // An empty file reads as no holders (JSON.parse fails): the next LAN starts afresh.
    }
  };
}
