/**
 * Benchmark support: pin a running process (all its threads) to some CPUs
 * with `taskset`, and put it back as it was. Issue 17 item 7: the relay on
 * one core and the load generator on the other, so that each figure is a
 * process with a core of its own instead of three processes sharing two.
 * Used for processes the bench does not start (itself, the system's
 * Mosquitto); those it starts get a `taskset -c` prefix instead.
 */
import { execFileSync } from 'node:child_process';

/** The CPUs `pid` may run on now, as taskset's list ("0,1", "0-3"). */
function affinity(pid: number): string {
  const out = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' });
  return out.trim().split(': ').pop()!;
}

/** Pins every thread of `pid` to `cpus` ("1"); returns what undoes it. */
export function pinProcess(pid: number, cpus: string): () => void {
  const before = affinity(pid);
  execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'ignore' });
  return () => {
    try {
      execFileSync('taskset', ['-a', '-c', '-p', before, String(pid)], { stdio: 'ignore' });
    } catch {
      // the process is gone: nothing to put back
    }
  };
}
