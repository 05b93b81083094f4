/**
 * Lines for standard output, written together: every line printed during one
 * turn of the event loop goes out in one write when the turn ends
 * (setImmediate), and whatever is left at exit is written then. A peer in an
 * office of 150 that starts among the others prints ~150 `peer-online` lines
 * within seconds, one per datagram; a write each is a system call and a
 * wake-up of whatever reads the pipe (a test harness reading 150 peers, a
 * script), where the lines of one busy turn now cost one.
 *
 * Order is kept; only the moment of the write moves, to the end of the
 * current turn. Writes to a pipe or a file are synchronous on Linux and
 * macOS, so the exit flush is complete when the process ends (spec §11:
 * output complete at exit, whatever the consumer).
 */
export class LineWriter {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly out: { write(text: string): unknown } = process.stdout) {
    process.on('exit', () => this.flush());
  }

  line(text: string): void {
    this.pending.push(text + '\n');
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.out.write(text);
  }
}
