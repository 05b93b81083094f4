/**
 * The signed discovery examples of docs/protocol/pigeon-v1.md §4.10 are real:
 * each one's `id` is the device id of its `k`, and its signature verifies
 * with the packet guard a receiver runs (the schema half is checked by
 * shared/protocol/spec-examples.test.ts, which cannot use node:crypto).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../util/manual-clock.js';
import { PacketGuard } from './packet-guard.js';

const SPEC = readFileSync(new URL('../../docs/protocol/pigeon-v1.md', import.meta.url), 'utf8');

function blocks(info: string): string[] {
  const out: string[] = [];
  const re = new RegExp('^```' + info + '\\n([\\s\\S]*?)^```', 'gm');
  for (let m = re.exec(SPEC); m; m = re.exec(SPEC)) out.push(m[1]!.trimEnd());
  return out;
}

function hexBytes(text: string): Buffer {
  return Buffer.from(text.split('\n').map((l) => l.replace(/#.*$/, '')).join(' ').split(/\s+/).filter(Boolean).join(''), 'hex');
}

describe('the signed discovery examples of the spec', () => {
  const datagrams = [...blocks('json discovery').map((t) => Buffer.from('PGN1' + t)), ...blocks('hex discovery-bytes').map(hexBytes)];

  it('are there: at least one of each packet type', () => {
    expect(datagrams.length).toBeGreaterThanOrEqual(5);
  });

  for (const [i, data] of datagrams.entries()) {
    it(`example ${i + 1} passes every check of a receiver (key, signature, exit freshness at its own time)`, () => {
      const ts = (JSON.parse(data.subarray(4).toString('utf8')) as { ts: number }).ts;
      const clock = new ManualClock(ts);
      const verdict = new PacketGuard({ now: () => clock.now() }, 'aaaaaaaaaaaaaaaaaaaaaaaaaa').check(data, '192.0.2.1');
      expect(verdict).toMatchObject({ ok: true });
      // One byte changed anywhere in the signed part and it fails.
      const edited = Buffer.from(data);
      edited[10] = edited[10]! ^ 1;
      expect(new PacketGuard({ now: () => clock.now() }, 'aaaaaaaaaaaaaaaaaaaaaaaaaa').check(edited, '192.0.2.1').ok).toBe(false);
    });
  }
});
