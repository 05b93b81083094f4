/**
 * XXH3-64, the data links' fast file check (docs/decisions.md, "the file
 * check is XXH3 where both peers have it"), from the `xxhash-addon` package:
 * xxHash's own C code behind N-API, ~0.03 CPU-s per GB against ~0.25-0.33 for
 * node:zlib's CRC-32 on this machine (docs/benchmarks.md, stop 25). N-API, so
 * one binary serves Node 20, Node 24 and Electron; the package carries
 * prebuilt binaries and builds from its C sources where none fits.
 *
 * Loaded on first use (a few ms), never at start-up. Where it cannot be
 * loaded this peer neither offers nor asks for XXH3, and its data links keep
 * CRC-32: a transfer never fails for want of it.
 */
import { createRequire } from 'node:module';

/** A running XXH3-64 over bytes in order. */
export interface Xxh3 {
  update(bytes: Uint8Array): void;
  /** The 16 lower-case hex digits of the hash (canonical, big-endian); call once. */
  digest(): string;
}

interface AddonHash {
  update(data: Uint8Array): void;
  digest(): Buffer;
}
type AddonCtor = (new (seed: Buffer) => AddonHash) & { hash?: (data: Uint8Array) => Buffer };

/** The seed of every check: 0, as 8 bytes (the addon takes a Buffer of 4 or 8 bytes as a seed). */
const SEED = Buffer.alloc(8);

let ctor: AddonCtor | null | undefined;

function load(): AddonCtor | null {
  if (ctor !== undefined) return ctor;
  try {
    const addon = createRequire(import.meta.url)('xxhash-addon') as { XXHash3?: AddonCtor };
    ctor = typeof addon.XXHash3 === 'function' ? addon.XXHash3 : null;
  } catch {
    ctor = null;
  }
  return ctor;
}

/** Whether this process can compute XXH3 (loads the addon the first time). */
export function hasXxh3(): boolean {
  return load() !== null;
}

/** A new running XXH3-64; throws if the addon is missing (ask hasXxh3() first). */
export function xxh3(): Xxh3 {
  const C = load();
  if (!C) throw new Error('XXH3 is not available in this build');
  const h = new C(SEED);
  return { update: (b) => h.update(b), digest: () => h.digest().toString('hex') };
}

/**
 * XXH3-64 of one piece of bytes in one call to the addon (its one-shot
 * `hash`): a small file's check was three calls and an object (a state, its
 * update, its digest), ~9 µs per file in the worker's profile of a folder.
 */
export function xxh3Once(bytes: Uint8Array): string {
  const C = load();
  if (!C) throw new Error('XXH3 is not available in this build');
  if (C.hash) return C.hash(bytes).toString('hex');
  const h = new C(SEED);
  h.update(bytes);
  return h.digest().toString('hex');
}
