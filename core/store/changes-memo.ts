/**
 * A query result kept until the database changes: the answer is read again
 * only when this connection has changed rows since (SQLite's total_changes(),
 * one trivial statement). For questions asked far more often than the data
 * changes, such as "does this peer have anything waiting?" on every sighting
 * of every colleague: in an office of 150 starting at once each peer asked
 * it 149 times in a few seconds, three queries each, a fifth of what a join
 * cost it (`npm run bench:office-idle`, docs/benchmarks.md).
 * Changes made by triggers are not counted by SQLite: memoise only queries
 * over tables the code writes directly.
 */
export class ChangesMemo<T> {
  private at = -1;
  private value: T | undefined;

  constructor(
    private readonly changes: () => number,
    private readonly load: () => T,
  ) {}

  get(): T {
    const n = this.changes();
    if (this.value === undefined || n !== this.at) {
      this.value = this.load();
      this.at = n;
    }
    return this.value;
  }
}
