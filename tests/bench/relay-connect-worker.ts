/**
 * Benchmark support: one load-generator process of the connect benchmark
 * (relay-connect.ts). It reads its slice of the devices from a file, says
 * `ready`, waits for `go` on stdin, then opens and authenticates one
 * control connection per device, `concurrency` at a time, sending the
 * directory version the parent names (a reconnect: the relay answers
 * "unchanged"). It reports `done` with its count and times, keeps the
 * connections open and idle, and exits when stdin closes.
 *
 * On `drop` it closes them all and says `dropped`; a second `go` connects
 * them again, each offering the TLS ticket of its first connection (the
 * bench's --reconnect).
 *
 * With a watch count W > 0, each client then watches the W devices after
 * it in the file (dir-watch, §12.2.1), as a client watches its contacts.
 *
 * With client `raw` (the default) each connection is a RawRelayClient (TLS
 * and WebSocket framing by hand, raw-relay-client.ts): it costs the
 * generator's core a fraction of a `ws` client, so the generator can offer
 * the relay more connects than the relay can take. `ws` is the BenchClient
 * on the `ws` library (the bench before; what a peer's stack costs).
 *
 * With P devices per address (P > 0, raw client only), the file's devices
 * connect from N / P loopback addresses of 127.1.0.0/16, taken in turn
 * (sourceAddress): P colleagues behind each address, as offices behind
 * NATs, so the relay runs with its per-address limits at their defaults
 * (issue 17 item 5).
 *
 * Usage: node relay-connect-worker.js <url> <devices.json> <from> <to> <concurrency> <dir version> [watch] [resume|full] [connects/s] [raw|ws] [devices per address]
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BenchClient } from './relay-client.js';
import { RawRelayClient, sourceAddress } from './raw-relay-client.js';

const [url, file, fromS, toS, concS, dirS, watchS, ticketsS, rateS, clientS, perAddressS] = process.argv.slice(2);
/** Devices per source address; 0: all from the default (127.0.0.1). */
const perAddress = Number(perAddressS ?? 0);
/** Which client makes the connects: the hand-made one (cheap) or BenchClient on `ws`. */
const raw = clientS !== 'ws';
const target = new URL(url!);
/** Connects started per second by this worker (0: as fast as the lanes go). */
const rate = Number(rateS ?? 0);
/** 'full': reconnects offer no TLS ticket (clients before §12.1.1). */
const offerTickets = ticketsS !== 'full';
const watch = Number(watchS ?? 0);
const all = JSON.parse(readFileSync(file!, 'utf8')) as { id: string; spki: string; key: string; enc: { key: string; sig: string } }[];
const devices = all.slice(Number(fromS), Number(toS)).map((d, i) => ({ ...d, key: createPrivateKey(d.key), from: perAddress > 0 ? sourceAddress(Number(fromS) + i, Math.ceil(all.length / perAddress)) : undefined, watched: Array.from({ length: Math.min(watch, all.length - 1) }, (_, k) => all[(Number(fromS) + i + 1 + k) % all.length]!.id) }));
let clients: { close(): Promise<void> }[] = [];
/** Each device's latest TLS ticket: a reconnect offers it, as a peer's relay client does (spec §12.1.1). */
const tickets = new Map<string, Buffer>();
const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

async function go(): Promise<void> {
  const start = performance.now();
  let next = 0;
  let failed = 0;
  let resumed = 0;
  let firstError = '';
  const lane = async (): Promise<void> => {
    while (next < devices.length) {
      const k = next++;
      const d = devices[k]!;
      const wait = rate > 0 ? start + (k * 1000) / rate - performance.now() : 0;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        const session = offerTickets ? tickets.get(d.id) : undefined;
        const onSession = (t: Buffer): void => void tickets.set(d.id, t);
        const r = raw
          ? await RawRelayClient.connect(target.hostname, Number(target.port), d, { dir: Number(dirS), onSession, ...(session ? { session } : {}), ...(d.from ? { localAddress: d.from } : {}) })
          : await BenchClient.connect(url!, d, 'Bench', Number(dirS), { ...(session ? { session } : {}), onSession });
        if (r.resumed) resumed++;
        if (d.watched.length > 0) r.client.send(JSON.stringify({ type: 'dir-watch', ids: d.watched }));
        clients.push(r.client);
      } catch (err) {
        failed++;
        firstError ||= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Number(concS) }, lane));
  say({ type: 'done', connected: clients.length, failed, resumed, firstError, ms: performance.now() - start, at: Date.now() });
}

/** Closes every connection (a network cut or a relay restart, seen from the clients) and waits for the closes. */
async function drop(): Promise<void> {
  const open = clients;
  clients = [];
  await Promise.all(open.map((c) => c.close()));
  say({ type: 'dropped', closed: open.length });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (l) => {
  if (l.trim() === 'go') void go();
  if (l.trim() === 'drop') void drop();
});
lines.on('close', () => process.exit(0));
say({ type: 'ready', devices: devices.length });
