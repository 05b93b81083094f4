/**
 * Reads a child process's output one line at a time, for the benchmarks that
 * talk to a helper process (the plain TLS and tar baselines) line by line.
 */

/** Successive lines of a child's output, one per call. */
export function lineReader(stream: NodeJS.ReadableStream): () => Promise<string> {
  const lines: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  let rest = '';
  stream.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop()!;
    for (const l of parts) {
      const w = waiting.shift();
      if (w) w(l.trim());
      else lines.push(l.trim());
    }
  });
  return () => (lines.length ? Promise.resolve(lines.shift()!) : new Promise((r) => waiting.push(r)));
}
