/**
 * The CLI's line writer: the lines of one event-loop turn go out in one
 * write, in order, and nothing is lost when the process exits after a flush
 * and the drain bin/pigeon.js waits for (a real child process with its
 * stdout on a pipe, 220 KB: more than a pipe holds).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LineWriter } from './line-writer.js';

function recorder(): { writes: string[]; write(text: string): void } {
  const writes: string[] = [];
  return { writes, write: (text: string) => void writes.push(text) };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LineWriter', () => {
  it('writes the lines of one turn in one write, in order', async () => {
    const out = recorder();
    const w = new LineWriter(out);
    for (let i = 0; i < 150; i++) w.line(`peer-online ${i}`);
    expect(out.writes).toEqual([]);
    await turn();
    expect(out.writes).toHaveLength(1);
    expect(out.writes[0]!.split('\n').slice(0, -1)).toEqual(Array.from({ length: 150 }, (_, i) => `peer-online ${i}`));
  });

  it('writes each turn separately, and flush() writes at once', async () => {
    const out = recorder();
    const w = new LineWriter(out);
    w.line('a');
    await turn();
    w.line('b');
    w.flush();
    expect(out.writes).toEqual(['a\n', 'b\n']);
    await turn();
    expect(out.writes).toEqual(['a\n', 'b\n']);
  });

  it('loses nothing at exit when flushed and drained first, as run-peer and bin/pigeon.js do', () => {
    const compiled = join(import.meta.dirname, '..', 'dist', 'cli', 'line-writer.js');
    expect(existsSync(compiled), `${compiled} (npm run build makes it)`).toBe(true);
    const script = `const { LineWriter } = await import(${JSON.stringify(pathToFileURL(compiled).href)});
const w = new LineWriter();
for (let i = 0; i < 20000; i++) w.line('line ' + i);
w.flush();
await new Promise((resolve) => process.stdout.write('', resolve));
process.exit(3);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status).toBe(3);
    const lines = r.stdout.split('\n').slice(0, -1);
    expect(lines).toHaveLength(20000);
    expect(lines[19999]).toBe('line 19999');
  });
});
