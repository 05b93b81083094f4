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
 * current turn. Whoever ends the command calls flush() first: bin/pigeon.js
 * then waits until stdout has handed every byte to the reader before it
 * exits, so output is complete at exit whatever reads it (issue 13, finding
 * 10). The flush on the process's `exit` event is only a last resort for a
 * path that never returns there: a pipe that is full at that moment keeps
 * what did not fit (a test measured 17,620 of 20,000 lines).
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
