/**
 * Integrity-check candidates for received files (docs/decisions.md,
 * "integrity hash"), side by side in one run: CPU seconds per GB fed in
 * 1 MiB pieces (a big file) and in 16 KiB pieces (TLS records as they come
 * off the socket), and microseconds per 4 KiB file (a folder of small
 * files). Node's built-ins always; hash-wasm (BLAKE3, XXH3, XXH128),
 * xxhash-wasm (XXH64) and @node-rs/xxhash (XXH3, native) when a package is
 * installed (NODE_PATH, or node_modules); they are not dependencies.
 * Writes bench-results/file-check-hashes.{json,md}.
 *
 * Usage: npm run bench:file-check
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ROOT } from '../support/cli-peer.js';

/** Bytes fed per candidate and piece size: 1 GiB, long enough to swamp start-up and noise. */
const TOTAL = 1 << 30;
/** Small files hashed per candidate (64 MiB of 4 KiB files). */
const SMALL_FILES = 16384;
/** Best of this many runs per figure: the machine is shared, the best run is the least disturbed. */
const RUNS = 3;

interface Running {
  update(b: Uint8Array): void;
  digest(): unknown;
}
type Candidate = () => Running;

const candidates: Record<string, Candidate> = {
  'SHA-256 (node:crypto, SHA-NI)': () => {
    const h = createHash('sha256');
    return { update: (b) => h.update(b), digest: () => h.digest() };
  },
  'SHA-1 (node:crypto)': () => {
    const h = createHash('sha1');
    return { update: (b) => h.update(b), digest: () => h.digest() };
  },
  'BLAKE2b-512 (node:crypto)': () => {
    const h = createHash('blake2b512');
    return { update: (b) => h.update(b), digest: () => h.digest() };
  },
  'CRC-32 (node:zlib)': () => {
    let v = 0;
    return { update: (b) => (v = crc32(b, v)), digest: () => v };
  },
};

/** Adds the optional packages' candidates that are installed. */
async function optional(): Promise<string[]> {
  const req = createRequire(join(process.cwd(), 'noop.js'));
  const missing: string[] = [];
  const load = async (name: string): Promise<Record<string, unknown> | null> => {
    try {
      return (await import(req.resolve(name))) as Record<string, unknown>;
    } catch {
      missing.push(name);
      return null;
    }
  };
  type Wasm = { init(): void; update(b: Uint8Array): void; digest(): string };
  const hw = await load('hash-wasm');
  if (hw) {
    for (const [label, fn] of [['BLAKE3 (hash-wasm, wasm)', 'createBLAKE3'], ['XXH3-64 (hash-wasm, wasm)', 'createXXHash3'], ['XXH3-128 (hash-wasm, wasm)', 'createXXHash128']] as const) {
      const h = await (hw[fn] as () => Promise<Wasm>)();
      candidates[label] = () => {
        h.init();
        return { update: (b) => h.update(b), digest: () => h.digest() };
      };
    }
  }
  const xw = await load('xxhash-wasm');
  if (xw) {
    const api = await (xw.default as () => Promise<{ create64(): { update(b: Uint8Array): unknown; digest(): bigint } }>)();
    candidates['XXH64 (xxhash-wasm, wasm)'] = () => {
      const h = api.create64();
      return { update: (b) => void h.update(b), digest: () => h.digest() };
    };
  }
  const nrs = await load('@node-rs/xxhash');
  if (nrs) {
    const X = (nrs.xxh3 as { Xxh3: { withSeed(): { update(b: Uint8Array): unknown; digest(): bigint } } }).Xxh3;
    candidates['XXH3-64 (@node-rs/xxhash, native prebuilt)'] = () => {
      const h = X.withSeed();
      return { update: (b) => void h.update(b), digest: () => h.digest() };
    };
  }
  return missing;
}

function best(fn: () => void): number {
  let s = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t = process.hrtime.bigint();
    fn();
    s = Math.min(s, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return s;
}

async function main(): Promise<void> {
  const missing = await optional();
  const big = Buffer.alloc(1 << 20);
  // Not all zeros: some implementations have fast paths for runs.
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + (i >> 9)) & 255;
  const record = big.subarray(0, 16 * 1024);
  const small = big.subarray(0, 4096);
  const rows: Array<{ name: string; sPerGB1MiB: number; sPerGB16KiB: number; usPer4KiBFile: number }> = [];
  for (const [name, make] of Object.entries(candidates)) {
    const feed = (piece: Buffer) => (): void => {
      const h = make();
      for (let n = 0; n < TOTAL; n += piece.length) h.update(piece);
      h.digest();
    };
    const files = (): void => {
      for (let i = 0; i < SMALL_FILES; i++) {
        const h = make();
        h.update(small);
        h.digest();
      }
    };
    rows.push({
      name,
      sPerGB1MiB: Math.round((best(feed(big)) / (TOTAL / 1e9)) * 1000) / 1000,
      sPerGB16KiB: Math.round((best(feed(record)) / (TOTAL / 1e9)) * 1000) / 1000,
      usPer4KiBFile: Math.round((best(files) / SMALL_FILES) * 1e8) / 100,
    });
    process.stderr.write(`${name} done\n`);
  }
  const load = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ');
  const date = new Date().toISOString();
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'file-check-hashes.json'), JSON.stringify({ date, load, missing, rows }, null, 2) + '\n');
  const md = [
    `# File check candidates (${date}, load average ${load}; best of ${RUNS})`,
    '',
    '| check | CPU s per GB, 1 MiB pieces | CPU s per GB, 16 KiB pieces | µs per 4 KiB file |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.sPerGB1MiB} | ${r.sPerGB16KiB} | ${r.usPer4KiBFile} |`),
    '',
    missing.length ? `Not installed (not measured): ${missing.join(', ')}` : '',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'file-check-hashes.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
