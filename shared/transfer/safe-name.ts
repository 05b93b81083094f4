/**
 * Safe names for received files: the single gate between a relative path
 * offered by a remote peer (OfferEntry.path in shared/protocol/transfer-frames.ts)
 * and the local disk. No name a peer sends may reach a file system call
 * without passing safeRelativeSegments(); what it returns is a list of plain
 * names that, joined under the download folder, cannot leave it, cannot name a
 * device, and cannot alias another name on Windows, macOS or Linux.
 *
 * It refuses rather than repairs: a repaired name could collide with another
 * entry of the same offer, and a peer sending such names is broken or hostile.
 * numberedName() then picks a free name when a safe one is already taken.
 *
 * Plain string logic with '/' separators, no node:path: the rules are the same
 * whatever the receiver's OS, so a name refused on Windows is refused on Linux.
 */

/** Why a path was refused (stable codes). */
export type UnsafeReason =
  | 'empty'
  | 'absolute'
  | 'drive-letter'
  | 'dot-dot'
  | 'nul-or-control'
  | 'reserved-name'
  | 'too-long'
  | 'too-deep'
  | 'bad-segment';

/** A remote path was refused; `path` is the string as offered, `reason` says why. */
export class UnsafePathError extends Error {
  readonly reason: UnsafeReason;
  readonly path: string;

  constructor(reason: UnsafeReason, path: string) {
    // The message leaves the path out: it is hostile input and may hold
    // control characters that would forge lines in a log.
    super(`unsafe path in transfer offer (${reason})`);
    this.name = 'UnsafePathError';
    this.reason = reason;
    this.path = path;
  }
}

/**
 * Longest segment, in UTF-8 bytes: NAME_MAX of the common file systems (ext4,
 * btrfs, APFS: 255 bytes; NTFS: 255 UTF-16 units, never more than the bytes).
 */
export const MAX_SEGMENT_BYTES = 255;
/**
 * Longest relative path, in UTF-8 bytes with its '/' separators: PATH_MAX on
 * Linux (4096). The download folder's own path comes on top of it.
 */
export const MAX_PATH_BYTES = 4096;
/**
 * Most segments in one path: real trees (node_modules included) are a few dozen
 * deep; deeper ones only cost the receiver a mkdir per level.
 */
export const MAX_DEPTH = 64;

/**
 * Longest input looked at, in UTF-16 units, before normalising: bounds the work
 * on hostile input. Over every code point, a canonical decomposition has at most
 * 1.5 UTF-16 units per UTF-8 byte of its composition, so a longer string cannot
 * fit in MAX_PATH_BYTES after NFC; the factor 4 is a margin.
 */
const MAX_OFFERED_UNITS = 4 * MAX_PATH_BYTES;
/**
 * Names numberedName() tries, the wanted one included: each try costs the caller
 * a file system lookup, and ten thousand copies of one name mean something is
 * wrong, not that the user wants one more.
 */
const MAX_NAME_TRIES = 10_000;
/** Compound extensions kept whole: "archive (1).tar.gz", not "archive.tar (1).gz". */
const DOUBLE_EXTENSIONS = ['.tar.gz', '.tar.bz2', '.tar.xz', '.tar.zst'];

/**
 * C0 controls (NUL included), DEL, C1 controls, and the bidi controls: these
 * invisible characters reorder the text around them, so "invoice\u202Efdp.exe"
 * would be shown as "invoiceexe.pdf".
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]|\p{Bidi_Control}/u;
/** A Windows drive ("C:", "c:foo", "C:\\x"); ":" elsewhere is a bad segment. */
const DRIVE_LETTER = /^[A-Za-z]:/;
/** Either separator: a Windows sender may send '\\'. */
const SEPARATOR = /[/\\]/;
/** Characters Windows forbids in a name (':' also opens NTFS alternate data streams). */
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;
/** A lone UTF-16 surrogate: written as U+FFFD, so two different names would alias. */
const LONE_SURROGATE = /\p{Cs}/u;
/** Windows strips a trailing space or dot: "a." and "a " would both open "a". */
const TRAILING_SPACE_OR_DOT = /[ .]$/;
/**
 * Windows device names (learn.microsoft.com "Naming Files, Paths, and
 * Namespaces", plus CONIN$ and CONOUT$ as in CPython's ntpath.isreserved).
 * Matched against the base name: up to the first dot, trailing spaces removed,
 * so "NUL.txt", "nul.tar.gz" and "NUL .txt" all open the device. ASCII-only
 * case folding (no 'u' flag), as Windows does for these names.
 */
const RESERVED_BASE_NAME = /^(?:CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[1-9¹²³]|LPT[1-9¹²³])$/i;
/**
 * Printable ASCII only: such a path is already NFC, holds no control, bidi
 * control or surrogate, and has one UTF-8 byte per UTF-16 unit, so those
 * steps are skipped (the plan of a 10,000-file folder checks 20,000
 * segments on the receiver's way to the accept; docs/benchmarks.md, stop 25).
 */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/**
 * A segment of letters, digits, '_', '-' and '.', not ending in '.': it
 * passes every segment rule but the device names and the length at once (no
 * forbidden character, no space, no trailing dot, not '', '.' or '..'), and
 * its base name can be a device name only at 3 or 4 characters (CONIN$ and
 * CONOUT$ hold a '$', the superscript digits are not ASCII). One test instead
 * of six for the names most folders hold (docs/benchmarks.md, stop 26).
 */
const PLAIN_SEGMENT = /^[\w.-]*[\w-]$/;

/**
 * Validates a relative path from a transfer offer and returns its normalised
 * segments. Segments are separated by '/' or '\\' (a Windows sender may send
 * the latter); '.' segments are dropped; the text is normalised to NFC.
 * Unicode names (CJK, emoji, combining marks) are accepted.
 *
 * @throws UnsafePathError with reason: 'empty' (no segment, or an empty one),
 * 'absolute', 'drive-letter', 'dot-dot' (any '..', even one that stays inside),
 * 'nul-or-control' (C0, DEL, C1 or bidi controls), 'reserved-name' (Windows
 * device names, any case, any extension), 'bad-segment' (< > : " | ? *, a
 * trailing space or dot, a lone surrogate), 'too-long' (a segment over
 * MAX_SEGMENT_BYTES or the path over MAX_PATH_BYTES, in UTF-8), 'too-deep'
 * (over MAX_DEPTH segments).
 */
export function safeRelativeSegments(offered: string): string[] {
  const segments: string[] = [];
  const reason = check(offered, segments);
  if (reason !== undefined) throw new UnsafePathError(reason, offered);
  return segments;
}

/**
 * Whether `parent + '/' + name` passes safeRelativeSegments(), and its
 * segments are the parent's and `name`, without checking the parent again:
 * for a `parent` made of printable ASCII that safeRelativeSegments() returned
 * unchanged (its segments joined with '/' are `parent` itself), `depth` of
 * them. True only when `name` is a plain segment (PLAIN_SEGMENT, not a device
 * name) and the longer path stays within MAX_DEPTH and MAX_PATH_BYTES; false
 * says nothing: the caller checks the whole path. Why: the entries of a
 * folder share its segments, and the landing plan of 10,000 files in 100
 * folders checked each folder's name 100 times (docs/benchmarks.md, stop 26).
 */
export function isPlainChild(parent: string, depth: number, name: string): boolean {
  if (depth >= MAX_DEPTH || name.length > MAX_SEGMENT_BYTES || parent.length + 1 + name.length > MAX_PATH_BYTES || !PLAIN_SEGMENT.test(name)) return false;
  const dot = name.indexOf('.');
  const baseLength = dot < 0 ? name.length : dot;
  return !((baseLength === 3 || baseLength === 4) && RESERVED_BASE_NAME.test(name.slice(0, baseLength)));
}

/** Whether `path` is printable ASCII (PRINTABLE_ASCII). */
export function isPrintableAscii(path: string): boolean {
  return PRINTABLE_ASCII.test(path);
}

/** Same check as safeRelativeSegments(), returning the segments joined with '/'. */
export function safeRelativePath(offered: string): string {
  return safeRelativeSegments(offered).join('/');
}

/**
 * Returns the first name that `taken` says is free: `name` itself, then
 * "report (1).pdf", "report (2).pdf", ...; "notes (1)" without an extension;
 * ".bashrc (1)" for a dotfile; "archive (1).tar.gz" for the compound extensions
 * .tar.gz, .tar.bz2, .tar.xz and .tar.zst. The stem is shortened (on a code
 * point boundary) when the number would push a name past MAX_SEGMENT_BYTES.
 * `name` is one segment, such as safeRelativeSegments() returns.
 *
 * @throws Error when `name` is empty or holds a separator, or after 10,000
 * names tried.
 */
export function numberedName(name: string, taken: (candidate: string) => boolean): string {
  if (name === '' || SEPARATOR.test(name)) throw new Error('numberedName: expected one non-empty path segment');
  if (!taken(name)) return name;
  const [stem, extension] = splitExtension(name);
  for (let n = 1; n < MAX_NAME_TRIES; n++) {
    const candidate = withNumber(stem, extension, n);
    if (!taken(candidate)) return candidate;
  }
  throw new Error(`numberedName: no free name after ${MAX_NAME_TRIES} tries`);
}

/** Fills `segments` and returns undefined, or returns why `offered` is refused. */
function check(offered: string, segments: string[]): UnsafeReason | undefined {
  if (offered === '') return 'empty';
  if (offered.length > MAX_OFFERED_UNITS) return 'too-long';
  const ascii = PRINTABLE_ASCII.test(offered);
  // Every rule applies to the normalised text, the one that reaches the disk.
  const path = ascii ? offered : offered.normalize('NFC');
  if (!ascii && CONTROL.test(path)) return 'nul-or-control';
  if (SEPARATOR.test(path.charAt(0))) return 'absolute';
  if (DRIVE_LETTER.test(path)) return 'drive-letter';
  let bytes = -1;
  // Split on '/' alone when there is no '\\' (a string split, not a regular expression's).
  for (const segment of ascii && !path.includes('\\') ? path.split('/') : path.split(SEPARATOR)) {
    if (segment === '.') continue;
    const reason = checkSegment(segment, ascii);
    if (reason !== undefined) return reason;
    segments.push(segment);
    if (segments.length > MAX_DEPTH) return 'too-deep';
    bytes += (ascii ? segment.length : utf8Length(segment)) + 1;
  }
  if (segments.length === 0) return 'empty';
  if (bytes > MAX_PATH_BYTES) return 'too-long';
  return undefined;
}

/** `ascii`: the segment is printable ASCII (PRINTABLE_ASCII). */
function checkSegment(segment: string, ascii: boolean): UnsafeReason | undefined {
  if (ascii && PLAIN_SEGMENT.test(segment)) {
    const dot = segment.indexOf('.');
    const baseLength = dot < 0 ? segment.length : dot;
    if ((baseLength === 3 || baseLength === 4) && RESERVED_BASE_NAME.test(segment.slice(0, baseLength))) return 'reserved-name';
    return segment.length > MAX_SEGMENT_BYTES ? 'too-long' : undefined;
  }
  if (segment === '') return 'empty';
  if (segment === '..') return 'dot-dot';
  if ((!ascii && LONE_SURROGATE.test(segment)) || WINDOWS_FORBIDDEN.test(segment)) return 'bad-segment';
  if (TRAILING_SPACE_OR_DOT.test(segment)) return 'bad-segment';
  const base = segment.split('.', 1)[0] ?? '';
  if (RESERVED_BASE_NAME.test(base.replace(/ +$/, ''))) return 'reserved-name';
  if ((ascii ? segment.length : utf8Length(segment)) > MAX_SEGMENT_BYTES) return 'too-long';
  return undefined;
}

/** Splits "archive.tar.gz" into ["archive", ".tar.gz"], "notes" into ["notes", ""]. */
function splitExtension(name: string): [stem: string, extension: string] {
  for (const double of DOUBLE_EXTENSIONS) {
    const tail = name.slice(-double.length);
    if (name.length > double.length && tail.toLowerCase() === double) return [name.slice(0, -double.length), tail];
  }
  const dot = name.lastIndexOf('.');
  // A leading dot starts a dotfile's name, a trailing one ends no extension.
  if (dot <= 0 || dot === name.length - 1) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}

function withNumber(stem: string, extension: string, n: number): string {
  const suffix = ` (${n})`;
  const budget = MAX_SEGMENT_BYTES - utf8Length(suffix) - utf8Length(extension);
  // An extension too long to keep beside the number is shortened with the stem.
  if (budget < 1) return truncateUtf8(stem + extension, MAX_SEGMENT_BYTES - utf8Length(suffix)) + suffix;
  return truncateUtf8(stem, budget) + suffix + extension;
}

/** The longest prefix of `text` within `maxBytes` of UTF-8, cut between code points. */
function truncateUtf8(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    bytes += utf8Length(char);
    if (bytes > maxBytes) break;
    end += char.length;
  }
  return text.slice(0, end);
}

/** UTF-8 length of `text` (a lone surrogate counts 3 bytes, as U+FFFD). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
  }
  return bytes;
}
