/**
 * The examples of docs/protocol/pigeon-v1.md §12.11 ("Relay instances") are
 * what the relay's own schemas accept or refuse, and there is one of every
 * message: the relay half of the spec's Appendix B (shared/protocol's test
 * knows these block kinds but cannot import relay/).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod/v3';
import { BroadcastMessage, BusRefusalCodes, decodeBusJson, DevMessage, DevReply, PresenceMessage } from './bus-messages.js';
import { CONTROL, decodeSideMessage, OwnerMessage, PipeControl } from './pipe-wire.js';

const SPEC = readFileSync(new URL('../../docs/protocol/pigeon-v1.md', import.meta.url), 'utf8');

function blocks(kind: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  const re = new RegExp('^```json ' + kind + '\\n([\\s\\S]*?)^```', 'gm');
  for (let m = re.exec(SPEC); m; m = re.exec(SPEC)) out.push({ text: m[1]!.trimEnd(), line: SPEC.slice(0, m.index).split('\n').length });
  return out;
}

/** Each message kind of the bus, by the schema that reads it and its name in the coverage check. */
const SCHEMAS: [string, z.ZodTypeAny][] = [
  ['dev', DevMessage],
  ['dev reply', DevReply],
  ['bcast', BroadcastMessage],
  ['presence', PresenceMessage],
  ['pipe owner', OwnerMessage],
];

/** The kinds of bus message that accept the example unchanged. */
function acceptedBy(text: string): string[] {
  const bytes = Buffer.from(text);
  return SCHEMAS.flatMap(([name, schema]) => {
    const d = decodeBusJson(schema, bytes);
    return d.ok && JSON.stringify(d.msg) === JSON.stringify(JSON.parse(text)) ? [`${name}${'t' in d.msg ? ` ${String(d.msg.t)}` : ''}`] : [];
  });
}

const control = (text: string): Uint8Array => Buffer.concat([Buffer.of(CONTROL), Buffer.from(text)]);

describe('docs/protocol/pigeon-v1.md §12.11', () => {
  const bus = blocks('relay-bus');
  const pipe = blocks('relay-pipe-control');

  for (const b of bus) {
    it(`accepts the relay-bus example at line ${b.line}`, () => expect(acceptedBy(b.text)).toHaveLength(1));
  }
  for (const b of blocks('relay-bus-invalid')) {
    it(`refuses the relay-bus-invalid example at line ${b.line} with a stable code`, () => {
      expect(acceptedBy(b.text)).toEqual([]);
      for (const [, schema] of SCHEMAS) {
        const d = decodeBusJson(schema, Buffer.from(b.text));
        expect(!d.ok && [BusRefusalCodes.VERSION, BusRefusalCodes.MESSAGE].includes(d.refusal.code)).toBe(true);
      }
    });
  }
  for (const b of pipe) {
    it(`accepts the relay-pipe-control example at line ${b.line}`, () => expect(decodeSideMessage(control(b.text))).toEqual({ t: 'control', c: JSON.parse(b.text) }));
  }
  for (const b of blocks('relay-pipe-control-invalid')) {
    it(`refuses the relay-pipe-control-invalid example at line ${b.line}`, () => expect(decodeSideMessage(control(b.text)).t).toBe('refused'));
  }

  it('has an example of every message between instances and every pipe control message', () => {
    const seen = new Set(bus.flatMap((b) => acceptedBy(b.text)));
    const tOf = (o: z.AnyZodObject): string | undefined => (o.shape.t as z.ZodLiteral<string> | undefined)?.value;
    const kinds = SCHEMAS.flatMap(([name, schema]) => {
      const objects = 'options' in schema ? (schema as z.ZodDiscriminatedUnion<'t', z.ZodDiscriminatedUnionOption<'t'>[]>).options : [schema as z.AnyZodObject];
      return objects.map((o) => (tOf(o) === undefined ? name : `${name} ${tOf(o)}`));
    });
    expect(kinds.filter((k) => !seen.has(k))).toEqual([]);
    const controls = new Set(pipe.map((b) => (JSON.parse(b.text) as { t: string }).t));
    expect(PipeControl.options.map((o) => o.shape.t.value).filter((t) => !controls.has(t))).toEqual([]);
  });
});
