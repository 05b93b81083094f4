/**
 * The loopback office that the file-transfer integration tests start from:
 * temporary profiles, `pigeon peer` processes on one fresh discovery port
 * (broadcast on 127.255.255.255, no mDNS, so parallel test files never hear
 * each other), all stopped and removed after each test; and the fingerprint
 * of a folder tree, to compare what was sent with what landed.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, beforeAll } from 'vitest';
import { freeUdpPort, PeerProcess, removeHome, tempHome } from './cli-peer.js';

export interface LoopbackLab {
  /** A temporary folder, removed after the test. */
  dir(label: string): string;
  /** A running `pigeon peer` on this file's discovery port, stopped after the test. */
  start(name: string, home: string, extra?: string[], env?: NodeJS.ProcessEnv): PeerProcess;
  /** Stops the peers started so far now (before a test's own clean-up that needs them gone). */
  stopAll(): Promise<void>;
}

/** Registers the hooks in the calling test file; call once at its top level. */
export function loopbackLab(): LoopbackLab {
  const discovery: string[] = ['--discovery-port', '0', '--broadcast', '127.255.255.255', '--no-mdns'];
  const running: PeerProcess[] = [];
  const dirs: string[] = [];
  beforeAll(async () => {
    discovery[1] = String(await freeUdpPort());
  });
  const stopAll = async (): Promise<void> => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
  };
  afterEach(async () => {
    await stopAll();
    for (const d of dirs.splice(0)) removeHome(d);
    // A fresh port per test: a peer of the last test that is still going away is never heard.
    discovery[1] = String(await freeUdpPort());
  });
  return {
    dir(label) {
      const d = tempHome(label);
      dirs.push(d);
      return d;
    },
    start(name, home, extra = [], env) {
      const p = new PeerProcess({ home, name, args: [...discovery, ...extra], ...(env ? { env } : {}) });
      running.push(p);
      return p;
    },
    stopAll,
  };
}

/** Every file and folder below root: relative path → sha256 of the file, or 'dir'. */
export function fileTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) {
        out[relative(root, full)] = 'dir';
        walk(full);
      } else out[relative(root, full)] = createHash('sha256').update(readFileSync(full)).digest('hex');
    }
  };
  walk(root);
  return out;
}
