/**
 * What counts as a picture (spec §13.8): a single PNG, JPEG, GIF or WebP file
 * of at most PICTURE_MAX_BYTES, recognised by its first bytes, not by its
 * name. Pictures travel as ordinary file transfers marked `picture`; the
 * receiver takes them without asking and the UIs show them inline. Anything
 * else (another format, or bigger) is sent as a file. SVG is never a picture:
 * it is a document that can carry scripts.
 */

/**
 * Largest picture: 16 MiB. A phone photo (12 MP JPEG, 3-8 MB) and a PNG
 * screenshot of a 4K screen (typically 2-10 MB) fit with room; a picture
 * bigger than that is no longer something to glance at in a chat, and is
 * received without asking, so its size must be bounded.
 */
export const PICTURE_MAX_BYTES = 16 * 1024 * 1024;

export type PictureType = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';

/** The file extension a stored picture gets, by type. */
export const PICTURE_EXTENSIONS: Readonly<Record<PictureType, string>> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' };

/** Bytes needed to recognise every picture type (WebP: "RIFF" size "WEBP"). */
export const PICTURE_SNIFF_BYTES = 12;

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0): boolean => sig.every((x, i) => b[at + i] === x);

/** The picture type of a file by its first bytes, or null. */
export function sniffPicture(head: Uint8Array): PictureType | null {
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(head, [0x47, 0x49, 0x46, 0x38])) return 'image/gif'; // GIF8(7|9)a
  if (startsWith(head, [0x52, 0x49, 0x46, 0x46]) && startsWith(head, [0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp';
  return null;
}

/** The type a picture's name suggests (the receiver checks the bytes too before showing it). */
export function pictureTypeOfName(name: string): PictureType | null {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (ext === 'jpeg') return 'image/jpeg';
  const found = (Object.entries(PICTURE_EXTENSIONS) as Array<[PictureType, string]>).find(([, e]) => e === ext);
  return found ? found[0] : null;
}

/** Why these offer entries cannot be a picture, or null when they can: one file, a picture's name, within the limit. */
export function pictureOfferProblem(entries: ReadonlyArray<{ path: string; kind: string; size: number }>): string | null {
  if (entries.length !== 1 || entries[0]!.kind !== 'file') return 'a picture is one file';
  const e = entries[0]!;
  if (e.path.includes('/') || !pictureTypeOfName(e.path)) return 'a picture is a PNG, JPEG, GIF or WebP file';
  if (e.size > PICTURE_MAX_BYTES) return `a picture is at most ${PICTURE_MAX_BYTES / 1024 / 1024} MiB`;
  return null;
}
