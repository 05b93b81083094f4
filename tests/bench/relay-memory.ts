/**
 * Where an idle authenticated connection's memory goes (`npm run
 * bench:relay-memory`, issue 17 item 2). The relay runs in this process
 * (started with --expose-gc, so garbage is collected before each reading)
 * pinned to core 0; N devices connect from a generator process
 * (relay-connect-worker.ts) pinned to core 1 and stay idle. The relay's
 * process.memoryUsage() before and after, divided by N, splits the cost
 * into JavaScript heap, memory outside it (OpenSSL's TLS state, socket
 * buffers: `external`, of which `arrayBuffers` are Buffers) and the rest of
 * the resident set (allocator slack, code).
 *
 * The devices are registered in the relay's store before it starts (as a
 * restart finds them): their number decides whether presence goes to every
 * connection or to watchers only (§12.2.1); --presence-all-max sets the bound.
 *
 * Usage: taskset -c 0 node --expose-gc dist/tests/bench/relay-memory.js [--devices 2000] [--presence-all-max N]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createRelay } from '../../relay/server/relay-server.js';
import { ROOT } from '../support/cli-peer.js';
import { makeDevice } from '../support/relay-device.js';
import { RELAY_DB_FILE, SqliteStore } from '../../relay/store/sqlite-store.js';

const { values: opt } = parseArgs({
  options: {
    devices: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    // Devices up to which presence goes to everyone (the relay's default is 1,000): a number above --devices measures the fan-out to all.
    'presence-all-max': { type: 'string' },
  },
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function settled(): Promise<NodeJS.MemoryUsage> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(300);
  }
  return process.memoryUsage();
}

async function main(): Promise<void> {
  const n = Number(opt.devices);
  const root = mkdtempSync(join(os.tmpdir(), 'pigeon-bench-memory-'));
  try {
    const devices = Array.from({ length: n }, () => makeDevice());
    const store = new SqliteStore(join(root, RELAY_DB_FILE));
    await Promise.all(devices.map((d, i) => store.upsertDevice({ id: d.id, spki: d.spki, enc: d.enc, profile: { name: `Bench ${i}`, group: 'Bench', host: 'bench', status: 'online', away: '' }, lastSeen: Date.now() })));
    await store.close();
    const relay = createRelay({ port: 0, host: '127.0.0.1', dataDir: root, logger: { log: () => {} }, maxPerAddress: 1e7, maxUnauthPerAddress: 1e7, registrationsPerAddress: 0, registrationsPerMinute: 0, maxAuthPending: 1e7, ...(opt['presence-all-max'] ? { presenceAllMax: Number(opt['presence-all-max']) } : {}) });
    await relay.start();
    const file = join(root, 'devices.json');
    writeFileSync(file, JSON.stringify(devices.map((d) => ({ id: d.id, spki: d.spki, enc: d.enc, key: d.key.export({ type: 'pkcs8', format: 'pem' }) }))));
    const before = await settled();
    const worker = spawn('taskset', ['-c', '1', process.execPath, join(ROOT, 'dist/tests/bench/relay-connect-worker.js'), `wss://127.0.0.1:${relay.port}/pigeon/1`, file, '0', String(n), opt.concurrency, '0'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const done = new Promise<Record<string, number>>((resolve) =>
      createInterface({ input: worker.stdout }).on('line', (l) => {
        const o = JSON.parse(l) as Record<string, number> & { type: string };
        if (o.type === 'ready') worker.stdin.write('go\n');
        if (o.type === 'done') resolve(o);
      }),
    );
    const result = await done;
    await sleep(2000);
    const after = await settled();
    const per = (k: keyof NodeJS.MemoryUsage): number => Math.round(((after[k] - before[k]) / result.connected!) / 102.4) / 10;
    const figures = {
      connections: result.connected,
      kbPerConnection: { rss: per('rss'), heapUsed: per('heapUsed'), heapTotal: per('heapTotal'), external: per('external'), arrayBuffers: per('arrayBuffers') },
      relayMB: { rssBefore: Math.round(before.rss / 1048576), rssAfter: Math.round(after.rss / 1048576) },
    };
    process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
    worker.stdin.end();
    await relay.stop();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
