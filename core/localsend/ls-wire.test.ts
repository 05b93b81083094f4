/**
 * The LocalSend schemas against the protocol document's own examples
 * (fixtures/doc-examples.ts), and against what a hostile sender might write.
 */
import { describe, expect, it } from 'vitest';
import * as doc from './fixtures/doc-examples.js';
import { fileTypeOf } from './ls-file-type.js';
import { DeviceInfo, deviceTypeOf, parseJson, PrepareAnswer, PrepareUpload } from './ls-wire.js';

describe('LocalSend wire schemas', () => {
  it('parse every device description of the document', () => {
    for (const text of [doc.announcement, doc.registerRequest, doc.multicastResponse, doc.registerResponse, doc.info]) {
      const d = parseJson(DeviceInfo, doc.json5(text));
      expect(d, text).not.toBeNull();
      expect(d!.fingerprint).toBe('random string');
    }
    expect(parseJson(DeviceInfo, doc.json5(doc.announcement))).toMatchObject({ alias: 'Nice Orange', deviceType: 'mobile', port: 53317, protocol: 'https', announce: true });
    expect(parseJson(DeviceInfo, doc.json5(doc.multicastResponse))?.announce).toBe(false);
    // The register answer and /info carry no port or protocol (§3.2, §6.1).
    expect(parseJson(DeviceInfo, doc.json5(doc.info))?.port).toBeUndefined();
  });

  it("parse the document's prepare-upload and its answer", () => {
    const p = parseJson(PrepareUpload, doc.json5(doc.prepareUpload))!;
    expect(Object.keys(p.files)).toEqual(['some file id', 'another file id']);
    expect(p.files['some file id']).toMatchObject({ fileName: 'my image.png', size: 324242, metadata: { modified: '2021-01-01T12:34:56Z' } });
    expect(p.files['another file id']!.metadata).toBeUndefined();
    expect(parseJson(PrepareAnswer, doc.json5(doc.prepareResponse))).toEqual({ sessionId: 'mySessionId', files: { someFileId: 'someFileToken', someOtherFileId: 'someOtherFileToken' } });
  });

  it('refuse what does not fit, never throw', () => {
    const bad = ['', 'null', '[]', '{', '{"alias":"x"}', '{"alias":"","fingerprint":"f"}', '{"alias":"x","fingerprint":"f","port":70000}', '{"alias":"x","fingerprint":"f","protocol":"ftp"}', JSON.stringify({ alias: 'x'.repeat(300), fingerprint: 'f' })];
    for (const t of bad) expect(parseJson(DeviceInfo, t), t).toBeNull();
    const info = { alias: 'a', fingerprint: 'f' };
    expect(parseJson(PrepareUpload, JSON.stringify({ info, files: { a: { id: 'a', fileName: 'x', size: -1 } } }))).toBeNull();
    expect(parseJson(PrepareUpload, JSON.stringify({ info, files: { a: { id: 'a', fileName: 'x', size: 1.5 } } }))).toBeNull();
    expect(parseJson(PrepareUpload, JSON.stringify({ info, files: { a: { id: 'a', fileName: '', size: 1 } } }))).toBeNull();
    const many = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [String(i), { id: String(i), fileName: `f${i}`, size: 1 }]));
    expect(parseJson(PrepareUpload, JSON.stringify({ info, files: many }))).toBeNull();
  });

  it('show unknown device types as desktop, as the official app does (§7.1)', () => {
    expect(deviceTypeOf('mobile')).toBe('mobile');
    expect(deviceTypeOf('toaster')).toBe('desktop');
    expect(deviceTypeOf(null)).toBe('desktop');
  });

  it('name file types by extension', () => {
    expect(fileTypeOf('a/b/photo.JPG')).toBe('image/jpeg');
    expect(fileTypeOf('notes.txt')).toBe('text/plain');
    expect(fileTypeOf('dir.v2/README')).toBe('application/octet-stream');
  });
});
