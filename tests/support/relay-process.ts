/**
 * Test support: runs a real `pigeon relay` process and reads the line it
 * prints when listening (port, URL, certificate fingerprint).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BIN } from './cli-peer.js';

export interface RelayListening {
  port: number;
  url: string;
  fingerprint: string;
  /** The raw TCP pipe port (§12.3.1), when it is on. */
  pipePort?: number;
  /** The admin port (/metrics), with --admin-port. */
  adminPort?: number;
}

export class RelayProcess {
  readonly stderr: string[] = [];
  readonly listening: Promise<RelayListening>;
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  /** `args`: flags after `pigeon relay` (at least --data and --port). */
  constructor(args: string[], prefix: string[] = []) {
    const [cmd, ...rest] = [...prefix, process.execPath, BIN, 'relay', '--json', ...args];
    this.child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
    this.listening = new Promise((resolve, reject) => {
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        try {
          const e = JSON.parse(line) as { type?: string } & RelayListening;
          if (e.type === 'listening') resolve({ port: e.port, url: e.url, fingerprint: e.fingerprint, ...(e.pipePort ? { pipePort: e.pipePort } : {}), ...(e.adminPort ? { adminPort: e.adminPort } : {}) });
        } catch {
          /* not an event line */
        }
      });
      void this.exited.then((code) => reject(new Error(`relay exited (${code}) before listening:\n${this.stderr.join('\n')}`)));
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
