/**
 * Unit tests of the gate between offered paths and the disk: every refusal with
 * its reason code, the names that must get through (Unicode, dotfiles, names
 * that merely look like reserved ones), the size bounds at their edges, and
 * property tests that whatever string arrives, the result cannot leave the
 * download folder. numberedName: extensions, dotfiles, compound extensions,
 * the byte limit and giving up.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_DEPTH,
  MAX_PATH_BYTES,
  MAX_SEGMENT_BYTES,
  numberedName,
  safeRelativePath,
  safeRelativeSegments,
  UnsafePathError,
  type UnsafeReason,
} from './safe-name.js';

const utf8 = new TextEncoder();
const bytes = (text: string): number => utf8.encode(text).length;

function refusal(offered: string): UnsafePathError {
  try {
    safeRelativeSegments(offered);
  } catch (error) {
    if (error instanceof UnsafePathError) return error;
    throw error;
  }
  throw new Error(`accepted: ${JSON.stringify(offered)}`);
}

function expectRefused(offered: string, reason: UnsafeReason): void {
  const error = refusal(offered);
  expect(error.reason).toBe(reason);
  expect(error.path).toBe(offered);
}

/** Resolves `relative` against `root` as a file system would ('.', '..', absolute). */
function resolve(root: string, relative: string): string {
  const stack = relative.startsWith('/') ? [] : root.split('/').filter((s) => s !== '');
  for (const part of relative.split(/[/\\]/)) {
    if (part === '' || part === '.') continue;
    if (part === '..') stack.pop();
    else stack.push(part);
  }
  return '/' + stack.join('/');
}

describe('safeRelativeSegments: accepted paths', () => {
  it.each([
    ['a.txt', ['a.txt']],
    ['dir/sub/file.txt', ['dir', 'sub', 'file.txt']],
    ['./a/./b', ['a', 'b']],
    ['a/.', ['a']],
    ['dir\\sub\\file.txt', ['dir', 'sub', 'file.txt']],
    ['dir\\sub/file.txt', ['dir', 'sub', 'file.txt']],
    ['.\\a', ['a']],
    ['.bashrc', ['.bashrc']],
    ['..a/a..b/...c', ['..a', 'a..b', '...c']],
    [' leading space/a b', [' leading space', 'a b']],
    ['报告/第1章.docx', ['报告', '第1章.docx']],
    ['📁 photos/👨‍👩‍👧 family.jpg', ['📁 photos', '👨‍👩‍👧 family.jpg']],
    ['تقرير/דוח.pdf', ['تقرير', 'דוח.pdf']],
    ['(1) [draft] {x} #1 & 50% $ ~ ! @ = + ,;\'`', ['(1) [draft] {x} #1 & 50% $ ~ ! @ = + ,;\'`']],
  ])('%j → %j', (offered, segments) => {
    expect(safeRelativeSegments(offered)).toEqual(segments);
  });

  it('normalises decomposed input to NFC', () => {
    const segments = safeRelativeSegments('cafe\u0301/nai\u0308ve.txt');
    expect(segments).toEqual(['caf\u00e9', 'na\u00efve.txt']);
    // Hangul in conjoining jamo (as macOS file systems store it) comes out composed.
    expect(safeRelativeSegments('\u1112\u1161\u11ab.txt')).toEqual(['\ud55c.txt']);
  });

  it('keeps combining marks that have no composed form', () => {
    expect(safeRelativeSegments('q\u0307\u0323.txt')).toEqual(['q\u0323\u0307.txt']);
  });

  it('accepts names that only look like device names', () => {
    for (const name of ['CON1', 'COM10', 'COM0', 'LPT', 'console.log', 'nul-device', 'aux_', 'my.con', 'prn (1).txt', 'ＣＯＮ']) {
      expect(safeRelativeSegments(name)).toEqual([name]);
    }
  });

  it('accepts a segment of exactly MAX_SEGMENT_BYTES', () => {
    const ascii = 'a'.repeat(MAX_SEGMENT_BYTES);
    const chinese = '报'.repeat(85); // 3 bytes each: 255
    const mixed = 'é'.repeat(127) + 'a'; // 2 bytes each: 254 + 1
    for (const name of [ascii, chinese, mixed]) {
      expect(bytes(name)).toBe(MAX_SEGMENT_BYTES);
      expect(safeRelativeSegments(name)).toEqual([name]);
    }
  });

  it('accepts a path of exactly MAX_PATH_BYTES and exactly MAX_DEPTH segments', () => {
    const segment = 'a'.repeat(63); // 63 segments of 63 bytes, one of 64, 63 separators: 4096
    const path = [...Array<string>(MAX_DEPTH - 1).fill(segment), 'a'.repeat(64)].join('/');
    expect(bytes(path)).toBe(MAX_PATH_BYTES);
    expect(safeRelativeSegments(path)).toHaveLength(MAX_DEPTH);
  });

  it('counts no depth for dropped "." segments', () => {
    expect(safeRelativeSegments('./'.repeat(200) + 'a')).toEqual(['a']);
  });

  it('safeRelativePath joins the segments with "/"', () => {
    expect(safeRelativePath('.\\dir\\./cafe\u0301.txt')).toBe('dir/caf\u00e9.txt');
  });
});

describe('safeRelativeSegments: refused paths', () => {
  const table: [string, UnsafeReason][] = [
    ['', 'empty'],
    ['.', 'empty'],
    ['./', 'empty'],
    ['./.', 'empty'],
    ['a//b', 'empty'],
    ['a/', 'empty'],
    ['a\\\\b', 'empty'],
    ['/x', 'absolute'],
    ['/etc/passwd', 'absolute'],
    ['\\x', 'absolute'],
    ['//server/share', 'absolute'],
    ['\\\\server\\share', 'absolute'],
    ['\\\\?\\C:\\x', 'absolute'],
    ['C:', 'drive-letter'],
    ['c:foo', 'drive-letter'],
    ['C:\\x', 'drive-letter'],
    ['z:/x', 'drive-letter'],
    ['..', 'dot-dot'],
    ['../x', 'dot-dot'],
    ['..\\x', 'dot-dot'],
    ['a/../b', 'dot-dot'],
    ['a/..', 'dot-dot'],
    ['a\\..\\..\\x', 'dot-dot'],
    ['./../x', 'dot-dot'],
    ['a\u0000b', 'nul-or-control'],
    ['\u0000', 'nul-or-control'],
    ['a\nb', 'nul-or-control'],
    ['a\rb', 'nul-or-control'],
    ['a\tb', 'nul-or-control'],
    ['dir/\u001b[31mred', 'nul-or-control'],
    ['a\u007f', 'nul-or-control'],
    ['a\u0080', 'nul-or-control'],
    ['a\u0085b', 'nul-or-control'],
    ['a\u009f', 'nul-or-control'],
    ['invoice\u202efdp.exe', 'nul-or-control'],
    ['\u2067x\u2069.txt', 'nul-or-control'],
    ['/\u0000', 'nul-or-control'],
    ['CON', 'reserved-name'],
    ['con', 'reserved-name'],
    ['Con.txt', 'reserved-name'],
    ['nul.tar.gz', 'reserved-name'],
    ['NUL .txt', 'reserved-name'],
    ['dir/PRN', 'reserved-name'],
    ['aux.c', 'reserved-name'],
    ['COM1', 'reserved-name'],
    ['com9.log', 'reserved-name'],
    ['LPT1', 'reserved-name'],
    ['lpt9.txt', 'reserved-name'],
    ['COM¹', 'reserved-name'],
    ['com².txt', 'reserved-name'],
    ['LPT³', 'reserved-name'],
    ['CONIN$', 'reserved-name'],
    ['conout$.txt', 'reserved-name'],
    ['a/CON/b', 'reserved-name'],
    ['a.', 'bad-segment'],
    ['a ', 'bad-segment'],
    ['dir./x', 'bad-segment'],
    ['x/dir /y', 'bad-segment'],
    ['...', 'bad-segment'],
    ['.. ', 'bad-segment'],
    ['CON ', 'bad-segment'],
    ['a<b', 'bad-segment'],
    ['a>b', 'bad-segment'],
    ['x/a:b', 'bad-segment'],
    ['file.txt:stream', 'bad-segment'],
    ['a"b', 'bad-segment'],
    ['a|b', 'bad-segment'],
    ['a?b', 'bad-segment'],
    ['a*b', 'bad-segment'],
    ['a\ud800b', 'bad-segment'],
    ['a\udc00', 'bad-segment'],
    ['a'.repeat(MAX_SEGMENT_BYTES + 1), 'too-long'],
    ['报'.repeat(86), 'too-long'],
    ['😀'.repeat(64), 'too-long'],
    ['dir/' + 'é'.repeat(128), 'too-long'],
    [Array<string>(20).fill('a'.repeat(250)).join('/'), 'too-long'],
    ['./'.repeat(10_000) + 'a', 'too-long'],
    [Array<string>(MAX_DEPTH + 1).fill('a').join('/'), 'too-deep'],
    ['a\\'.repeat(1000) + 'a', 'too-deep'],
  ];

  it.each(table)('%j → %s', (offered, reason) => {
    expectRefused(offered, reason);
  });

  it('refuses a path over MAX_PATH_BYTES by one byte', () => {
    const path = [...Array<string>(MAX_DEPTH - 1).fill('a'.repeat(63)), 'a'.repeat(65)].join('/');
    expect(bytes(path)).toBe(MAX_PATH_BYTES + 1);
    expectRefused(path, 'too-long');
  });

  it('throws an UnsafePathError that keeps the offered path out of its message', () => {
    const error = refusal('../\u001b[2Jevil');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('UnsafePathError');
    expect(error.reason).toBe('nul-or-control');
    expect(error.path).toBe('../\u001b[2Jevil');
    expect(error.message).not.toContain('evil');
  });

  it('safeRelativePath refuses what safeRelativeSegments refuses', () => {
    expect(() => safeRelativePath('a/../b')).toThrow(UnsafePathError);
  });
});

describe('safeRelativeSegments: properties', () => {
  /** Fragments that make up the interesting paths, mixed with arbitrary text. */
  const fragment = fc.oneof(
    fc.constantFrom('/', '\\', '.', '..', ' ', 'a', 'é', 'e\u0301', 'C:', 'c:', 'con', 'NUL', 'COM¹', '.txt', '.tar.gz'),
    fc.constantFrom('\u0000', '\u001f', '\u0085', '\u202e', '<', ':', '|', '?', '\ud800', '😀', '报告', '//', '\\\\?\\', '$'),
    fc.string({ unit: 'grapheme', maxLength: 4 }),
  );
  const pathLike = fc.array(fragment, { maxLength: 16 }).map((parts) => parts.join(''));
  const anyString = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 300 }), pathLike);

  it('either refuses with UnsafePathError or returns plain names that stay inside the root', () => {
    fc.assert(
      fc.property(anyString, (offered) => {
        let segments: string[];
        try {
          segments = safeRelativeSegments(offered);
        } catch (error) {
          expect(error).toBeInstanceOf(UnsafePathError);
          return;
        }
        expect(segments.length).toBeGreaterThan(0);
        expect(segments.length).toBeLessThanOrEqual(MAX_DEPTH);
        for (const segment of segments) {
          expect(['', '.', '..']).not.toContain(segment);
          expect(segment).not.toMatch(/[/\\]/);
          // eslint-disable-next-line no-control-regex -- looking for control characters
          expect(segment).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
          expect(segment.normalize('NFC')).toBe(segment);
          expect(bytes(segment)).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
        }
        const joined = segments.join('/');
        expect(bytes(joined)).toBeLessThanOrEqual(MAX_PATH_BYTES);
        expect(resolve('/root/dl', joined)).toBe(`/root/dl/${joined}`);
        expect(resolve('/root/dl', joined).startsWith('/root/dl/')).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('is idempotent: a safe path comes back unchanged', () => {
    fc.assert(
      fc.property(anyString, (offered) => {
        let safe: string;
        try {
          safe = safeRelativePath(offered);
        } catch {
          return;
        }
        expect(safeRelativePath(safe)).toBe(safe);
      }),
      { numRuns: 2000 },
    );
  });

  it('judges a printable-ASCII segment as it judges it in a path that is not ASCII (two code paths, one rule)', () => {
    // A non-ASCII first segment sends the whole path down the general path; 'x/' keeps it on the ASCII one.
    const outcome = (offered: string): string => {
      try {
        return JSON.stringify(safeRelativeSegments(offered).slice(1));
      } catch (error) {
        if (error instanceof UnsafePathError) return error.reason;
        throw error;
      }
    };
    const names = ['f0', 'a-b_c.d', '.bashrc', 'a.', 'a..b', '-', '_', 'CON', 'con.txt', 'Nul.tar.gz', 'aux_', 'CON1', 'COM1', 'com9.log', 'LPT0', 'lpt1.x', 'COM10', 'nul-device', 'my.con', 'CONIN$', 'a b', 'a ', 'x'.repeat(MAX_SEGMENT_BYTES), 'x'.repeat(MAX_SEGMENT_BYTES + 1), '..', '.', 'a\\b'];
    for (const name of names) expect(outcome(`x/${name}`), name).toBe(outcome(`\u00e9/${name}`));
    fc.assert(
      fc.property(fc.stringMatching(/^[\x20-\x7e]{1,12}$/), (name) => {
        fc.pre(!name.includes('/') && !name.includes('\\'));
        expect(outcome(`x/${name}`)).toBe(outcome(`\u00e9/${name}`));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('numberedName', () => {
  /** A predicate taking exactly `names`, recording every call. */
  function takenSet(...names: string[]): { taken: (candidate: string) => boolean; calls: string[] } {
    const calls: string[] = [];
    return { calls, taken: (candidate) => (calls.push(candidate), names.includes(candidate)) };
  }

  it('returns the name itself when it is free, asking once', () => {
    const { taken, calls } = takenSet();
    expect(numberedName('report.pdf', taken)).toBe('report.pdf');
    expect(calls).toEqual(['report.pdf']);
  });

  it('counts up before the extension', () => {
    expect(numberedName('report.pdf', takenSet('report.pdf').taken)).toBe('report (1).pdf');
    const { taken, calls } = takenSet('report.pdf', 'report (1).pdf');
    expect(numberedName('report.pdf', taken)).toBe('report (2).pdf');
    expect(calls).toEqual(['report.pdf', 'report (1).pdf', 'report (2).pdf']);
  });

  it.each([
    ['notes', 'notes (1)'],
    ['.bashrc', '.bashrc (1)'],
    ['.config.json', '.config (1).json'],
    ['photo.2024.jpg', 'photo.2024 (1).jpg'],
    ['archive.tar.gz', 'archive (1).tar.gz'],
    ['archive.tar.bz2', 'archive (1).tar.bz2'],
    ['archive.tar.xz', 'archive (1).tar.xz'],
    ['archive.tar.zst', 'archive (1).tar.zst'],
    ['BACKUP.TAR.GZ', 'BACKUP (1).TAR.GZ'],
    ['archive.zip.gz', 'archive.zip (1).gz'],
    ['.tar.gz', '.tar (1).gz'],
    ['报告.docx', '报告 (1).docx'],
    ['a..b', 'a. (1).b'],
  ])('%s → %s', (name, expected) => {
    expect(numberedName(name, takenSet(name).taken)).toBe(expected);
  });

  it('shortens the stem to stay within MAX_SEGMENT_BYTES, between code points', () => {
    const long = 'a'.repeat(MAX_SEGMENT_BYTES - 4) + '.txt';
    expect(numberedName(long, takenSet(long).taken)).toBe('a'.repeat(MAX_SEGMENT_BYTES - 8) + ' (1).txt');

    const emoji = '😀'.repeat(62) + '.txt'; // 252 bytes
    const numbered = numberedName(emoji, takenSet(emoji).taken);
    expect(numbered).toBe('😀'.repeat(61) + ' (1).txt');
    expect(bytes(numbered)).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
  });

  it('shortens an extension that leaves no room for the number', () => {
    const name = 'a.' + 'b'.repeat(MAX_SEGMENT_BYTES - 2);
    const numbered = numberedName(name, takenSet(name).taken);
    expect(numbered).toBe(name.slice(0, MAX_SEGMENT_BYTES - 4) + ' (1)');
    expect(bytes(numbered)).toBe(MAX_SEGMENT_BYTES);
  });

  it('gives up with an Error after 10,000 names tried', () => {
    let calls = 0;
    expect(() => numberedName('x.txt', () => (calls++, true))).toThrow(/10000 tries/);
    expect(calls).toBe(10_000);
  });

  it('refuses an empty name or a path', () => {
    expect(() => numberedName('', () => false)).toThrow(Error);
    expect(() => numberedName('a/b', () => false)).toThrow(Error);
  });

  it('only makes names that pass the gate, for any name that passes it', () => {
    const segment = fc
      .oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 120 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }))
      .filter((name) => {
        try {
          return safeRelativeSegments(name).length === 1;
        } catch {
          return false;
        }
      })
      .map((name) => safeRelativePath(name));
    fc.assert(
      fc.property(segment, fc.integer({ min: 0, max: 12 }), (name, occupied) => {
        let asked = 0;
        const numbered = numberedName(name, () => asked++ < occupied);
        expect(safeRelativeSegments(numbered)).toEqual([numbered]);
        expect(bytes(numbered)).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
        if (occupied > 0) expect(numbered).toContain(` (${occupied})`);
      }),
      { numRuns: 1000 },
    );
  });
});
