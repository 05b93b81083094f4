/**
 * Test support: runs real `pigeon` processes (the built CLI in dist/) and
 * reads their --json event stream. Used by the loopback integration tests,
 * the network-namespace tests and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PeerEvent } from '../../shared/api/control-api.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, whether this file runs from tests/ (vitest) or dist/tests/ (bench). */
export const ROOT = resolve(here, here.includes(`${join('dist', 'tests')}`) ? '../../..' : '../..');
export const BIN = join(ROOT, 'bin', 'pigeon.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a one-shot pigeon command (optionally prefixed, e.g. by `ip netns exec ns`). */
export function pigeon(args: string[], opts: { prefix?: string[]; env?: NodeJS.ProcessEnv; input?: string; /** Keep stdin open this long after writing input (interactive commands). */ keepOpenMs?: number } = {}): Promise<RunResult> {
  const [cmd, ...rest] = [...(opts.prefix ?? []), process.execPath, BIN, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd!, rest, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
    if (opts.keepOpenMs) {
      child.stdin.write(opts.input ?? '');
      setTimeout(() => child.stdin.end(), opts.keepOpenMs);
    } else child.stdin.end(opts.input ?? '');
  });
}

/** A free UDP port on loopback for one test's discovery traffic. */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(r));
  return port;
}

export function tempHome(label: string): string {
  return mkdtempSync(join(tmpdir(), `pigeon-${label}-`));
}

export interface PeerProcessOptions {
  home: string;
  name: string;
  group?: string;
  /** Extra arguments for `pigeon peer` (discovery settings). */
  args: string[];
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  prefix?: string[];
  /** Do not read the event stream (benchmarks: parsing it would load the measuring process). */
  ignoreOutput?: boolean;
  /** Environment variables added to this process's own. */
  env?: NodeJS.ProcessEnv;
  /** Keep the default session port (2426, as on a real PC: one peer per namespace) instead of `--port 0`. */
  defaultPort?: boolean;
}

/** A running `pigeon peer --json` process and the events it printed. */
export class PeerProcess {
  readonly events: PeerEvent[] = [];
  readonly stderr: string[] = [];
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;
  id = '';

  constructor(readonly opts: PeerProcessOptions) {
    const args = ['peer', '--home', opts.home, '--name', opts.name, '--json', ...(opts.defaultPort ? [] : ['--port', '0']), ...(opts.group ? ['--group', opts.group] : []), ...opts.args];
    const [cmd, ...rest] = [...(opts.prefix ?? []), process.execPath, BIN, ...args];
    this.child = spawn(cmd!, rest, { stdio: ['ignore', opts.ignoreOutput ? 'ignore' : 'pipe', 'pipe'], ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
    if (this.child.stdout) createInterface({ input: this.child.stdout }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as PeerEvent;
        if (e.type === 'listening') this.id = e.self.id;
        this.events.push(e);
        for (const w of [...this.waiters]) w();
      } catch {
        this.stderr.push(`(stdout) ${line}`);
      }
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Waits for the first event (from index `from`) matching pred. */
  waitFor<T extends PeerEvent>(pred: (e: PeerEvent) => e is T, timeoutMs?: number, from?: number): Promise<T>;
  waitFor(pred: (e: PeerEvent) => boolean, timeoutMs?: number, from?: number): Promise<PeerEvent>;
  waitFor(pred: (e: PeerEvent) => boolean, timeoutMs = 20000, from = 0): Promise<PeerEvent> {
    return new Promise((resolvePromise, reject) => {
      const check = (): boolean => {
        const found = this.events.slice(from).find(pred);
        if (!found) return false;
        this.waiters.delete(listener);
        clearTimeout(timer);
        resolvePromise(found);
        return true;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(listener);
        reject(new Error(`${this.opts.name}: timed out waiting for an event; stderr:\n${this.stderr.slice(-20).join('\n')}`));
      }, timeoutMs);
      this.waiters.add(listener);
      check();
    });
  }

  async ready(): Promise<string> {
    await this.waitFor((e) => e.type === 'listening');
    return this.id;
  }

  /** Waits until this peer lists `name` as online. */
  sees(name: string, timeoutMs?: number, from?: number): Promise<PeerEvent> {
    return this.waitFor((e) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.online, timeoutMs, from);
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGTERM and wait for exit (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

/** The temporary homes a test file makes: `make` one, `removeAll` in its afterEach. */
export function tempHomes(): { make(label: string): string; removeAll(): void } {
  const homes: string[] = [];
  return {
    make(label) {
      const h = tempHome(label);
      homes.push(h);
      return h;
    },
    removeAll() {
      for (const h of homes.splice(0)) removeHome(h);
    },
  };
}
