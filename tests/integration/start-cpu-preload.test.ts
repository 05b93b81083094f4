/**
 * The benchmarks' in-process start figure (tests/bench/start-cpu-preload.ts,
 * used by the office soak and `crowd-start`): a real `pigeon peer` with the
 * preload writes its own CPU, per thread, by the time its `listening` line
 * can be read, and a figure no larger than what /proc says right after; at
 * exit it writes its whole life. Runs the compiled preload (dist/tests,
 * built by `tsc -b`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuSeconds } from '../bench/proc-stats.js';
import { BIN, freeUdpPort, removeHome, ROOT, tempHome } from '../support/cli-peer.js';

const PRELOAD = join(ROOT, 'dist', 'tests', 'bench', 'start-cpu-preload.js');

interface Report {
  userS: number;
  sysS: number;
  threads: Record<string, number>;
  minorFaults: number;
  wallMs: number;
  eventsBefore: Record<string, number>;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeHome));

describe('start-cpu preload', () => {
  it.skipIf(!existsSync(PRELOAD))('reports the CPU a peer had used when it wrote listening, then its whole life at exit', async () => {
    const home = tempHome('preload');
    const out = mkdtempSync(join(tmpdir(), 'pigeon-preload-out-'));
    dirs.push(home, out);
    const args = ['--import', PRELOAD, BIN, 'peer', '--home', home, '--name', 'p', '--json', '--port', '0', '--no-mdns', '--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PIGEON_START_CPU_DIR: out } });
    const file = join(out, `${child.pid}.json`);
    let atLine = { present: false, proc: 0 };
    await new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (!line.includes('"type":"listening"')) return;
        // The report is written before the line itself: it is there when the line is read.
        atLine = { present: existsSync(file), proc: cpuSeconds(child.pid!) };
        resolve();
      });
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    expect(atLine.present).toBe(true);
    const r = JSON.parse(readFileSync(file, 'utf8')) as Report;
    const cpu = r.userS + r.sysS;
    expect(cpu).toBeGreaterThan(0);
    // /proc was read later, in whole clock ticks (10 ms) with user and system time each cut down: at least the report less three ticks.
    expect(cpu).toBeLessThanOrEqual(atLine.proc + 0.03);
    expect(Object.keys(r.threads).length).toBeGreaterThan(1);
    expect(r.minorFaults).toBeGreaterThan(0);
    expect(r.eventsBefore).toEqual({});
    const end = JSON.parse(readFileSync(join(out, `${child.pid}.end.json`), 'utf8')) as Report;
    expect(end.userS + end.sysS).toBeGreaterThanOrEqual(cpu);
    expect(end.wallMs).toBeGreaterThanOrEqual(r.wallMs);
    rmSync(out, { recursive: true, force: true });
  });
});
