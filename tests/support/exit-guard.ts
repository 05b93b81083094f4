/**
 * Test support: a last line of defence for tests that start many processes
 * in network namespaces. Whatever is registered here is killed (processes)
 * and deleted (namespaces) synchronously when this process exits, or when it
 * is interrupted (SIGINT, SIGTERM, SIGHUP), even if the test or benchmark
 * never reached its own cleanup; profile folders go too. Normal cleanup
 * unregisters as it goes.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const pids = new Set<number>();
const namespaces = new Set<string>();
const dirs = new Set<string>();
let installed = false;

function cleanupNow(): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  pids.clear();
  for (const ns of namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
    } catch {
      // Already deleted.
    }
  }
  namespaces.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', cleanupNow);
  for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.once(sig, () => {
      console.error(`exit guard: ${sig}, killing ${pids.size} processes and deleting ${namespaces.size} namespaces`);
      cleanupNow();
      process.exit(128 + n);
    });
  }
}

/** Kill this process when we exit, unless released first. */
export function guardPid(pid: number): void {
  install();
  if (pid > 0) pids.add(pid);
}

export function releasePid(pid: number): void {
  pids.delete(pid);
}

/** Delete these namespaces when we exit, unless released first. */
export function guardNamespaces(names: string[]): void {
  install();
  for (const n of names) namespaces.add(n);
}

export function releaseNamespaces(names: string[]): void {
  for (const n of names) namespaces.delete(n);
}

/** Remove this folder (a profile) when we exit, unless released first. */
export function guardDir(dir: string): void {
  install();
  dirs.add(dir);
}

export function releaseDir(dir: string): void {
  dirs.delete(dir);
}
