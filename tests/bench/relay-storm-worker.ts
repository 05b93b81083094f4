/**
 * Benchmark support: one load-generator process of the reconnect-storm
 * benchmark (relay-storm.ts). It holds its share of the devices as control
 * connections that behave, on the wire, as core/relay-client does:
 *
 * - after a close it dials again after `reconnectDelay` (the real policy:
 *   jittered back-off step, or the busy relay's 1013 retry-after);
 * - it names the directory version it holds in `auth`, and follows
 *   `dir-state` (§12.2.1): "unchanged" → current; "delta" → `dir-sync`
 *   after the version held, again after each `to` while `more`; "page" →
 *   `dir-page` to the end, then `dir-sync` after the first page's version;
 *   on a watched-presence relay it sends `dir-watch` first;
 * - once current it syncs its mailbox from its cursor (`sync`, `ack`).
 *
 * What it does not keep: the directory's entries. A client is current when
 * the version it holds is the one the relay's last answer ended at (`to`
 * with `more: false`, or the "unchanged" version); only that number is
 * kept, read from the frame's text without parsing its entries (10,000
 * clients × 10,000 entries would not fit, and the relay's cost does not
 * depend on what the client does with them).
 *
 * Protocol on stdin/stdout (JSON lines): → `ready`; ← `go` (connect every
 * storm client, `concurrency` at a time, without following the directory:
 * the set-up) → `connected`; ← `hold <version>` (every client now holds
 * this version, what a client holds after its periodic catch-up);
 * ← `storm` (the relay is about to be killed: from now on count who is
 * back) → `progress` every second; ← `report` → `report`.
 *
 * Usage: node relay-storm-worker.js '<json: url, file, from, to, rfrom, rto, concurrency, seedVersion, watch, n>'
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { reconnectDelay } from '../../core/relay-client/relay-client.js';
import { authMessage, RELAY_SUBPROTOCOL } from '../../shared/protocol/relay-frames.js';
import { signText } from '../support/relay-device.js';
import { frameType } from './relay-client.js';

interface Config {
  url: string;
  file: string;
  from: number;
  to: number;
  rfrom: number;
  rto: number;
  concurrency: number;
  seedVersion: number;
  watch: number;
  /** Storm devices in the file (the first n); receivers follow them. */
  n: number;
}

/** Mailbox entries asked for per sync page: core/relay-client's SYNC_PAGE. */
const SYNC_PAGE = 200;
/** How often progress is told to the parent during the storm. */
const PROGRESS_MS = 1000;

interface Peer {
  id: string;
  spki: string;
  key: KeyObject;
  enc: { key: string; sig: string };
  watched: string[];
  /** Directory version held (0: none). */
  held: number;
  /** Mailbox cursor: highest seq stored. */
  cursor: number;
  /** A receiver: offline until the storm, then syncs its mailbox. */
  receiver: boolean;
  failures: number;
  ws: WebSocket | null;
  /** When it last became current (0: not since its last close). */
  currentAt: number;
  /** Following the directory (false during the set-up connect). */
  follow: boolean;
  /** First page's version while paging (-1: none yet). */
  pageVersion: number;
  onCurrent: (() => void) | null;
}

const cfg = JSON.parse(process.argv[2]!) as Config;
type Row = { id: string; spki: string; key: string; enc: { key: string; sig: string } };
const all = JSON.parse(readFileSync(cfg.file, 'utf8')) as Row[];
const n = cfg.n;
const make = (d: Row, i: number, receiver: boolean): Peer => ({
  id: d.id,
  spki: d.spki,
  key: createPrivateKey(d.key),
  enc: d.enc,
  // Its contacts: the next `watch` storm devices in the file.
  watched: Array.from({ length: cfg.watch }, (_, k) => all[(i + 1 + k) % n]!.id),
  held: cfg.seedVersion,
  cursor: 0,
  receiver,
  failures: 0,
  ws: null,
  currentAt: 0,
  follow: receiver,
  pageVersion: -1,
  onCurrent: null,
});
const storm = all.slice(cfg.from, cfg.to).map((d, k) => make(d, cfg.from + k, false));
const receivers = all.slice(cfg.rfrom, cfg.rto).map((d, k) => make(d, cfg.rfrom + k, true));

const stats = { dials: 0, tryLater: 0, refusedTcp: 0, bytes: 0, dirChangesFrames: 0, dirPages: 0, deltas: 0, unchanged: 0, paged: 0, stale: 0 };
const delivered = new Set<string>();
/** Receivers whose mailbox sync came to its end after the restart: what was left for them is all here. */
const synced = new Set<string>();
/** Closes during the storm, by code and whether the connection had been welcomed ("1013", "4001", "1006 after welcome"…). */
const closes: Record<string, number> = {};
/** Socket errors during the storm, by code (ECONNREFUSED while the relay is down, ECONNRESET, …): why a dial failed. */
const errors: Record<string, number> = {};
let stormAt = 0;
let stopping = false;
const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

/** `"key":<number>` near the start of a frame, read without parsing the frame. */
function numberAt(data: Buffer, key: string, from = 0, to = 160): number {
  const m = new RegExp(`"${key}":(\\d+)`).exec(data.toString('latin1', from, Math.min(data.length, to)));
  return m ? Number(m[1]) : NaN;
}

function current(p: Peer): void {
  p.currentAt = Date.now();
  p.onCurrent?.();
  p.onCurrent = null;
  // core/relay-client syncs the mailbox once the directory is current.
  p.ws?.send(JSON.stringify({ type: 'sync', after: p.cursor, limit: SYNC_PAGE }));
}

function onFrame(p: Peer, ws: WebSocket, data: Buffer): void {
  stats.bytes += data.length;
  const type = frameType(data);
  switch (type) {
    case 'challenge': {
      const { nonce } = JSON.parse(data.toString('utf8')) as { nonce: string };
      const profile = { name: p.receiver ? 'Receiver' : 'Storm', group: 'Bench', host: 'bench', status: 'online', away: '' };
      ws.send(JSON.stringify({ type: 'auth', v: 1, id: p.id, spki: p.spki, sig: signText(p.key, authMessage(nonce, p.id)), profile, enc: p.enc, ...(p.held > 0 ? { dir: p.held } : {}) }));
      return;
    }
    case 'welcome': {
      p.failures = 0;
      const last = numberAt(data, 'last', 0, data.length);
      // A storm client stored everything up to `last` before; a receiver starts from its cursor.
      if (!p.receiver) p.cursor = last;
      if (!p.follow) {
        p.currentAt = Date.now();
        p.onCurrent?.();
        p.onCurrent = null;
      }
      return;
    }
    case 'dir-state': {
      if (!p.follow) return;
      const f = JSON.parse(data.toString('utf8')) as { version: number; state: string; presence?: string };
      if (f.presence === 'watched' && p.watched.length > 0) ws.send(JSON.stringify({ type: 'dir-watch', ids: p.watched }));
      if (f.state === 'page' || p.held === 0) return page(p, ws);
      if (f.state === 'delta') {
        stats.deltas++;
        ws.send(JSON.stringify({ type: 'dir-sync', ref: 'd', after: p.held }));
        return;
      }
      stats.unchanged++;
      p.held = f.version;
      return current(p);
    }
    case 'dir-changes': {
      stats.dirChangesFrames++;
      // {"type":"dir-changes","ref":…,"from":…,"to":…,"changes":[…],"more":…}: `to` at the start, `more` at the end.
      const to = numberAt(data, 'to');
      const more = data.toString('latin1', data.length - 12).includes('true');
      if (to > p.held) p.held = to;
      if (more) ws.send(JSON.stringify({ type: 'dir-sync', ref: 'd', after: p.held }));
      else current(p);
      return;
    }
    case 'dir-peers': {
      stats.dirPages++;
      if (p.pageVersion < 0) p.pageVersion = numberAt(data, 'version');
      const next = /"next":(null|"([a-z0-9]+)")\}$/.exec(data.toString('latin1', data.length - 60));
      if (next?.[2]) ws.send(JSON.stringify({ type: 'dir-page', ref: 'p', after: next[2] }));
      else ws.send(JSON.stringify({ type: 'dir-sync', ref: 'd', after: p.pageVersion }));
      return;
    }
    case 'error': {
      const f = JSON.parse(data.toString('utf8')) as { ref?: string; code: string };
      // DIR_STALE (or a failed catch-up): page, as core/relay-client does.
      if (f.ref === 'd') {
        stats.stale++;
        page(p, ws);
      }
      return;
    }
    case 'deliver': {
      const f = JSON.parse(data.toString('utf8')) as { seq: number; id: string };
      delivered.add(f.id);
      if (f.seq > p.cursor) p.cursor = f.seq;
      return;
    }
    case 'synced': {
      const f = JSON.parse(data.toString('utf8')) as { last: number; complete: boolean };
      if (p.cursor > 0) ws.send(JSON.stringify({ type: 'ack', seq: p.cursor }));
      if (!f.complete) ws.send(JSON.stringify({ type: 'sync', after: Math.max(f.last, p.cursor), limit: SYNC_PAGE }));
      else if (p.receiver && stormAt > 0) synced.add(p.id);
      return;
    }
  }
}

function page(p: Peer, ws: WebSocket): void {
  stats.paged++;
  p.pageVersion = -1;
  ws.send(JSON.stringify({ type: 'dir-page', ref: 'p', after: '' }));
}

function dial(p: Peer): void {
  stats.dials++;
  // No connect timeout, unlike core/relay-client (15 s): with it, 10,000 clients on the generator's one core
  // re-dialled 55,000 times and starved their own handshakes (docs/benchmarks.md, "Reconnect storm, stop 23").
  const ws = new WebSocket(cfg.url, [RELAY_SUBPROTOCOL], { rejectUnauthorized: false, perMessageDeflate: false });
  p.ws = ws;
  let authed = false;
  ws.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNREFUSED') stats.refusedTcp++;
    if (stormAt > 0) errors[err.code ?? err.message] = (errors[err.code ?? err.message] ?? 0) + 1;
  });
  ws.on('message', (data: Buffer) => {
    if (frameType(data) === 'welcome') authed = true;
    onFrame(p, ws, data);
  });
  ws.on('close', (code, reason) => {
    if (p.ws !== ws) return;
    p.ws = null;
    p.currentAt = 0;
    if (code === 1013) stats.tryLater++;
    if (stormAt > 0) {
      const k = `${code}${authed ? ' after welcome' : ''}`;
      closes[k] = (closes[k] ?? 0) + 1;
    }
    // core/relay-client: a close after a welcome resets the count, a failed attempt adds one.
    if (authed) p.failures = 0;
    else p.failures++;
    if (stopping) return;
    setTimeout(() => dial(p), reconnectDelay(p.failures, code, reason.toString(), Math.random()));
  });
}

async function setUp(): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < storm.length) {
      const p = storm[next++]!;
      await new Promise<void>((resolve) => {
        p.onCurrent = resolve;
        dial(p);
      });
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, lane));
  say({ type: 'connected', n: storm.length });
}

function backTimes(): number[] {
  return storm.filter((p) => p.currentAt > stormAt).map((p) => p.currentAt);
}

function progress(): void {
  say({ type: 'progress', back: backTimes().length, receiversBack: receivers.filter((p) => p.currentAt > stormAt).length, delivered: delivered.size, ...stats });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (l) => {
  const [cmd, arg] = l.trim().split(' ');
  if (cmd === 'go') void setUp();
  else if (cmd === 'hold') {
    for (const p of storm) {
      p.held = Number(arg);
      p.follow = true;
    }
  } else if (cmd === 'storm') {
    stormAt = Date.now();
    // From here on the storm's own traffic (the set-up's presence pushes are not its cost).
    for (const k of Object.keys(stats) as (keyof typeof stats)[]) stats[k] = 0;
    // The receivers were offline; they come back with everyone, after the restart.
    setTimeout(() => receivers.forEach(dial), reconnectDelay(0, 1006, '', Math.random()));
    setInterval(progress, PROGRESS_MS).unref();
  } else if (cmd === 'report') {
    stopping = true;
    say({ type: 'report', back: backTimes(), n: storm.length, receiversBack: receivers.filter((p) => p.currentAt > stormAt).length, delivered: [...delivered], synced: [...synced], closes, errors, ...stats });
  }
});
lines.on('close', () => process.exit(0));
say({ type: 'ready', devices: storm.length, receivers: receivers.length });
