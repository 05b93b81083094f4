import { describe, expect, it } from 'vitest';
import { PICTURE_MAX_BYTES, pictureOfferProblem, sniffPicture } from './picture.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

describe('pictures', () => {
  it('recognises PNG, JPEG, GIF and WebP by their first bytes, and nothing else', () => {
    expect(sniffPicture(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13))).toBe('image/png');
    expect(sniffPicture(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe('image/jpeg');
    expect(sniffPicture(new TextEncoder().encode('GIF89a'))).toBe('image/gif');
    expect(sniffPicture(new TextEncoder().encode('RIFF\x10\x00\x00\x00WEBP'))).toBe('image/webp');
    expect(sniffPicture(new TextEncoder().encode('RIFF\x10\x00\x00\x00WAVE'))).toBeNull();
    expect(sniffPicture(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg">'))).toBeNull();
    expect(sniffPicture(bytes())).toBeNull();
  });

  it('takes one picture file within the limit as a picture offer, and says why not otherwise', () => {
    expect(pictureOfferProblem([{ path: 'screenshot.png', kind: 'file', size: 1000 }])).toBeNull();
    expect(pictureOfferProblem([{ path: 'photo.JPEG', kind: 'file', size: PICTURE_MAX_BYTES }])).toBeNull();
    expect(pictureOfferProblem([{ path: 'photo.jpg', kind: 'file', size: PICTURE_MAX_BYTES + 1 }])).toBe('a picture is at most 16 MiB');
    expect(pictureOfferProblem([{ path: 'drawing.svg', kind: 'file', size: 10 }])).toBe('a picture is a PNG, JPEG, GIF or WebP file');
    expect(pictureOfferProblem([{ path: 'a.png', kind: 'file', size: 1 }, { path: 'b.png', kind: 'file', size: 1 }])).toBe('a picture is one file');
    expect(pictureOfferProblem([{ path: 'dir', kind: 'dir', size: 0 }])).toBe('a picture is one file');
  });
});
