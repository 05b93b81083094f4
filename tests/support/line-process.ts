/**
 * Test support: a real process whose plain-text output is read as a person
 * reads it (stdout and stderr as lines), for tests of what `pigeon relay`
 * and `pigeon peer` print without --json: wait for a line, count lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export class LineProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const read = (into: string[]) => (line: string): void => {
      into.push(line);
      for (const w of [...this.waiters]) w();
    };
    createInterface({ input: this.child.stdout! }).on('line', read(this.stdout));
    createInterface({ input: this.child.stderr! }).on('line', read(this.stderr));
    this.exited = new Promise((r) => {
      this.child.on('exit', (code) => r(code));
      // A process that could not be started: its reason, as a line, and no exit code.
      this.child.on('error', (err) => {
        read(this.stderr)(`spawn ${cmd}: ${err.message}`);
        r(null);
      });
    });
  }

  /** Both streams, stdout first. */
  get lines(): string[] {
    return [...this.stdout, ...this.stderr];
  }

  /** The first stdout or stderr line matching `re`; rejects after `timeoutMs` or when the process ends without one. */
  waitForLine(re: RegExp, timeoutMs = 20000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.find((l) => re.test(l));
        if (found === undefined) return false;
        done();
        resolve(found);
        return true;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${re}; output:\n${this.lines.slice(-20).join('\n')}`));
      }, timeoutMs);
      const done = (): void => {
        this.waiters.delete(listener);
        clearTimeout(timer);
      };
      this.waiters.add(listener);
      if (check()) return;
      void this.exited.then((code) => {
        if (check()) return;
        done();
        reject(new Error(`exited (${code}) without a line matching ${re}; output:\n${this.lines.slice(-20).join('\n')}`));
      });
    });
  }

  /** SIGTERM and wait for exit (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
  }
}
