/**
 * The spec's error table (docs/protocol/pigeon-v1.md §10) and ErrorCodes
 * list the same codes: every code the engine can raise is documented, and
 * every documented code exists. Both directions are checked.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from './errors.js';

const SPEC = new URL('../../docs/protocol/pigeon-v1.md', import.meta.url);

/** The codes in the first column of the table of the "## 10 Error codes" section. */
export function tableCodes(markdown: string): string[] {
  const start = markdown.indexOf('\n## 10 Error codes');
  if (start < 0) throw new Error('no "## 10 Error codes" section');
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^\|\s*`(PIGEON_ERR_[A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1]!);
}

describe('error table of the spec', () => {
  const documented = tableCodes(readFileSync(SPEC, 'utf8'));
  const known = Object.values(ErrorCodes) as string[];

  it('reads the codes of the table (the check can fail)', () => {
    expect(tableCodes('# x\n\n## 10 Error codes\n\n| Code | Meaning |\n|---|---|\n| `PIGEON_ERR_A` | a |\n| `PIGEON_ERR_B_C` | b |\n\n## 11 Next\n| `PIGEON_ERR_D` | d |\n')).toEqual(['PIGEON_ERR_A', 'PIGEON_ERR_B_C']);
  });

  it('documents every code of ErrorCodes', () => {
    expect(known.filter((c) => !documented.includes(c))).toEqual([]);
  });

  it('lists no code that ErrorCodes does not have, and each once', () => {
    expect(documented.filter((c) => !known.includes(c))).toEqual([]);
    expect(documented.filter((c, i) => documented.indexOf(c) !== i)).toEqual([]);
  });
});
