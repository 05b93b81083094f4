/**
 * Hostile consumers of `--json` output (issue 13, finding 10): `pigeon
 * history --json | cat` stopped at 64 or 128 KiB of ~200 KB with exit 0. A
 * real history of about 200 KB is seeded through the control API between two
 * real peers, then read through `cat`, through a reader that waits before
 * reading, and through `head -c 1000`, which closes the pipe early; byte
 * counts are compared with the same command's output into a file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../cli/control-client.js';
import { BIN, freeUdpPort, PeerProcess, removeHome, tempHome } from '../support/cli-peer.js';

/** Messages seeded: 200 of ~1 KB of text make a history of ~220 KB of JSON, past the 64 KiB pipe buffer several times. */
const MESSAGES = 200;
const TEXT = 'Lorem ipsum dolor sit amet, '.repeat(36);

const running: PeerProcess[] = [];
const homes: string[] = [];
let ha = '';

beforeAll(async () => {
  const port = await freeUdpPort();
  const args = ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns'];
  ha = tempHome('pipes-a');
  const hb = tempHome('pipes-b');
  homes.push(ha, hb);
  const alice = new PeerProcess({ home: ha, name: 'Alice', args });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args });
  running.push(alice, bob);
  await Promise.all([alice.sees('Bob'), bob.sees('Alice')]);
  await withClient(ha, async (c) => {
    for (let i = 0; i < MESSAGES; i++) await c.request('send', { peer: 'Bob', text: `${i} ${TEXT}` });
  });
}, 120_000);

afterAll(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

/** Runs `pigeon history Bob --json` into `consumer` with sh; gives the consumer's output, pigeon's exit code and stderr. */
function piped(consumer: string): { out: Buffer; code: number; stderr: string } {
  const script = `"${process.execPath}" "${BIN}" history Bob --home "${ha}" --json --limit 100000 2>"${ha}/stderr.txt" | ${consumer}; echo "\${PIPESTATUS[0]}" > "${ha}/code.txt"`;
  const out = execFileSync('bash', ['-c', script], { maxBuffer: 64 * 1024 * 1024 });
  return { out, code: Number(readFileSync(join(ha, 'code.txt'), 'utf8').trim()), stderr: readFileSync(join(ha, 'stderr.txt'), 'utf8') };
}

describe('--json through pipes', () => {
  let full: Buffer;

  beforeAll(() => {
    // Into a file: the reference (file writes are synchronous, nothing can be left pending).
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" history Bob --home "${ha}" --json --limit 100000 > "${ha}/full.json"`]);
    expect(r.status).toBe(0);
    full = readFileSync(join(ha, 'full.json'));
    expect((JSON.parse(full.toString()) as unknown[]).length).toBe(MESSAGES);
  });

  it('| cat gives every byte', () => {
    const r = piped('cat');
    console.log(`history --json | cat: ${r.out.length} of ${full.length} bytes, exit ${r.code}`);
    expect(full.length).toBeGreaterThan(200_000);
    expect(r.out.length).toBe(full.length);
    expect(r.out.equals(full)).toBe(true);
    expect(r.code).toBe(0);
  });

  it('a reader that starts late gives every byte', () => {
    const r = piped('(sleep 1; cat)');
    console.log(`history --json | (sleep 1; cat): ${r.out.length} of ${full.length} bytes, exit ${r.code}`);
    expect(r.out.length).toBe(full.length);
    expect(r.code).toBe(0);
  });

  it('| head -c 1000 gives 1000 bytes, and pigeon ends quietly', () => {
    const r = piped('head -c 1000');
    console.log(`history --json | head -c 1000: ${r.out.length} bytes, pigeon exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 200))}`);
    expect(r.out.length).toBe(1000);
    expect(r.out.equals(full.subarray(0, 1000))).toBe(true);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
