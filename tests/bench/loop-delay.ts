/**
 * Benchmark support: the event-loop delay of peer processes while something
 * runs (loop-delay-preload.ts, loaded with NODE_OPTIONS=--import), next to
 * that of an idle Node process measured over the same time: on a shared
 * 2-core machine, the idle process shows what the scheduler alone costs, so
 * a peer's figure above it is the peer's own blocking.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LoopDelay {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const PRELOAD = fileURLToPath(new URL('./loop-delay-preload.js', import.meta.url));
/** How long to wait for a process to write its figures after the second signal. */
const WRITE_WAIT_MS = 5000;

export class LoopDelayProbe {
  readonly dir = mkdtempSync(join(tmpdir(), 'pigeon-loop-delay-'));
  /** Environment for the processes to measure. */
  readonly env = { NODE_OPTIONS: `--import=${PRELOAD}`, PIGEON_LOOP_DELAY_DIR: this.dir };
  private readonly idle: ChildProcess;

  constructor() {
    // An idle Node process with the same probe: the machine's own noise.
    this.idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { ...process.env, ...this.env }, stdio: 'ignore' });
  }

  /** Starts a fresh measurement in each process (and the idle one). */
  start(pids: number[]): void {
    for (const pid of [...pids, this.idle.pid!]) process.kill(pid, 'SIGUSR2');
  }

  /** Ends the measurement: figures per pid, and the idle process's as `idle`. */
  async stop(pids: number[]): Promise<{ byPid: Record<number, LoopDelay>; idle: LoopDelay }> {
    const all = [...pids, this.idle.pid!];
    for (const pid of all) process.kill(pid, 'SIGUSR2');
    const read = async (pid: number): Promise<LoopDelay> => {
      const file = join(this.dir, `${pid}.json`);
      const end = Date.now() + WRITE_WAIT_MS;
      while (!existsSync(file) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const d = JSON.parse(readFileSync(file, 'utf8')) as LoopDelay;
      rmSync(file);
      return d;
    };
    const byPid: Record<number, LoopDelay> = {};
    for (const pid of pids) byPid[pid] = await read(pid);
    return { byPid, idle: await read(this.idle.pid!) };
  }

  close(): void {
    this.idle.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
