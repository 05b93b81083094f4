/**
 * The relay log gathers lines per event-loop turn (log.ts): one write for a
 * turn's lines, warnings at once and in order, nothing lost at exit.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { jsonLogger } from './log.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function sink(): { writes: string[]; write(s: string): void } {
  const writes: string[] = [];
  return { writes, write: (s) => void writes.push(s) };
}

describe('jsonLogger', () => {
  it('writes the lines of one turn in one write, in order', async () => {
    const out = sink();
    const log = jsonLogger('info', out);
    log.log('info', 'one', { n: 1 });
    log.log('debug', 'below the level');
    log.log('info', 'two', { n: 2 });
    expect(out.writes).toEqual([]);
    await turn();
    expect(out.writes).toHaveLength(1);
    const lines = out.writes[0]!.trimEnd().split('\n').map((l) => JSON.parse(l) as { msg: string; level: string; n: number });
    expect(lines.map((l) => [l.level, l.msg, l.n])).toEqual([
      ['info', 'one', 1],
      ['info', 'two', 2],
    ]);
  });

  it('writes a warning at once, after the lines gathered before it', () => {
    const out = sink();
    const log = jsonLogger('info', out);
    log.log('info', 'before');
    log.log('warn', 'refused', { reason: 'x' });
    expect(out.writes).toHaveLength(1);
    expect(out.writes[0]!.trimEnd().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['before', 'refused']);
  });

  it('writes what is gathered when the process exits in the same turn', () => {
    const log = pathToFileURL(join(import.meta.dirname, '../dist/relay/log.js')).href;
    const code = `import(${JSON.stringify(log)}).then(({ jsonLogger }) => { jsonLogger().log('info', 'last words', { n: 7 }); process.exit(0); });`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('"msg":"last words","n":7');
  });
});
