/**
 * The hand-written offer check (fastOfferFrame) against the schema it
 * stands in for: on valid offers it returns what OfferFrame returns; on
 * every broken one it returns null, so the schema refuses it with its reason.
 */
import { describe, expect, it } from 'vitest';
import { fastOfferFrame, MAX_OFFER_ENTRIES_PER_FRAME, OfferFrame } from './transfer-frames.js';

const T = '0123456789abcdef0123456789abcdef';
const entry = { path: 'Photos/a.jpg', kind: 'file', size: 4096, mtime: 1_700_000_000_000 };
const offer = { type: 'offer', transfer: T, part: 0, parts: 1, entries: [entry, { path: 'Photos', kind: 'dir', size: 0, mtime: 0 }] };

/** Each case: the offer with one change. */
const broken: Array<[string, unknown]> = [
  ['not an object', 'offer'],
  ['null', null],
  ['another type', { ...offer, type: 'offer-ack' }],
  ['short transfer id', { ...offer, transfer: T.slice(1) }],
  ['upper-case transfer id', { ...offer, transfer: T.toUpperCase() }],
  ['negative part', { ...offer, part: -1 }],
  ['fractional part', { ...offer, part: 0.5 }],
  ['part as a string', { ...offer, part: '0' }],
  ['no parts', { ...offer, parts: 0 }],
  ['too many parts', { ...offer, parts: 501 }],
  ['picture false', { ...offer, picture: false }],
  ['entries not an array', { ...offer, entries: {} }],
  ['too many entries', { ...offer, entries: new Array(MAX_OFFER_ENTRIES_PER_FRAME + 1).fill(entry) }],
  ['an entry that is null', { ...offer, entries: [null] }],
  ['an entry that is an array', { ...offer, entries: [[]] }],
  ['an empty path', { ...offer, entries: [{ ...entry, path: '' }] }],
  ['a path over 4,096', { ...offer, entries: [{ ...entry, path: 'x'.repeat(4097) }] }],
  ['a path as a number', { ...offer, entries: [{ ...entry, path: 7 }] }],
  ['another kind', { ...offer, entries: [{ ...entry, kind: 'link' }] }],
  ['a negative size', { ...offer, entries: [{ ...entry, size: -1 }] }],
  ['a fractional size', { ...offer, entries: [{ ...entry, size: 1.5 }] }],
  ['a size past 2^53', { ...offer, entries: [{ ...entry, size: 2 ** 53 }] }],
  ['a size as a string', { ...offer, entries: [{ ...entry, size: '1' }] }],
  ['no mtime', { ...offer, entries: [{ path: 'a', kind: 'file', size: 1 }] }],
  ['a negative mtime', { ...offer, entries: [{ ...entry, mtime: -1 }] }],
];

const valid: Array<[string, unknown]> = [
  ['a plain offer', offer],
  ['a picture', { ...offer, picture: true }],
  ['no entries', { ...offer, entries: [] }],
  ['the most entries', { ...offer, entries: new Array(MAX_OFFER_ENTRIES_PER_FRAME).fill(entry) }],
  ['unknown keys, dropped', { ...offer, extra: 1, entries: [{ ...entry, source: '/home/me/secret' }] }],
  ['edge sizes', { ...offer, part: 499, parts: 500, entries: [{ ...entry, path: 'x'.repeat(4096), size: Number.MAX_SAFE_INTEGER, mtime: 0 }] }],
];

describe('fastOfferFrame', () => {
  it.each(valid)('returns what the schema returns for %s', (_name, v) => {
    const schema = OfferFrame.safeParse(v);
    expect(schema.success).toBe(true);
    expect(fastOfferFrame(v)).toEqual(schema.data);
  });

  it.each(broken)('leaves %s to the schema, which refuses it', (_name, v) => {
    expect(fastOfferFrame(v)).toBeNull();
    expect(OfferFrame.safeParse(v).success).toBe(false);
  });
});
