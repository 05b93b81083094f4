/**
 * The IPMsg codec on packets as real clients send them (fixtures/packets.ts),
 * round trips of what Pigeon sends, and a fuzz test: any bytes give a parsed
 * value or a PigeonError with code PROTOCOL, never another exception.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { fileIdCandidates, formatAttachments, formatDirHeader, formatFileRequest, parseAttachments, parseDirHeader, parseFileRequest } from './attach-codec.js';
import { decodeText, encodeText } from './charset.js';
import { Cmd, FileType, MsgOpt, Opt } from './constants.js';
import { messageAttachments, messageText, parseEntryExtra } from './entry-codec.js';
import { fixtures } from './fixtures/packets.js';
import { splitText } from './ipmsg-channel.js';
import { formatPacket, parsePacket } from './packet-codec.js';

describe('parsePacket on real clients', () => {
  it('reads iptux 0.8.3 ANSENTRY written in GBK although it declares utf-8', () => {
    const p = parsePacket(fixtures.iptuxAnsentryGbk);
    expect(p).toMatchObject({ version: '1_iptux 0.8.3', packetNo: 3, user: 'root', host: 'vm', command: Cmd.ANSENTRY, options: 0x100 });
    const e = parseEntryExtra(p.extra, false);
    expect(e).toMatchObject({ nickname: '张三', group: '测试组', charset: 'gbk', declared: 'utf-8' });
  });

  it('reads iptux ANSENTRY in UTF-8 and with the default profile', () => {
    const e = parseEntryExtra(parsePacket(fixtures.iptuxAnsentryUtf8).extra, false);
    expect(e).toMatchObject({ nickname: '张三', group: '测试组', charset: 'utf-8' });
    const d = parseEntryExtra(parsePacket(fixtures.iptuxAnsentryDefault).extra, false);
    expect(d).toMatchObject({ nickname: 'root', group: '', charset: null });
  });

  it('reads the packet number of an iptux RECVMSG', () => {
    const p = parsePacket(fixtures.iptuxRecvmsg);
    expect(p.command).toBe(Cmd.RECVMSG);
    expect(p.extra.toString('latin1')).toBe('101\0');
  });

  it("keeps Feiq's '#'-laden version field and decodes its GBK names and text", () => {
    const p = parsePacket(fixtures.feiqEntry);
    expect(p.version).toBe('1_lbt6_0#128#000C29D7D8D4#0#0#0#4001#9');
    expect(p.command).toBe(Cmd.BR_ENTRY);
    expect(p.options & Opt.FILEATTACH).toBeTruthy();
    expect(parseEntryExtra(p.extra, false)).toMatchObject({ nickname: '飞秋', group: '工作组', charset: 'gbk' });
    const m = parsePacket(fixtures.feiqMessage);
    expect(m.command).toBe(Cmd.SENDMSG);
    expect(m.options).toBe(MsgOpt.SENDCHECK);
    expect(messageText(m.extra, false)).toBe('你好');
  });

  it('prefers the UTF-8 extension lines of IPMsg for Windows', () => {
    const p = parsePacket(fixtures.ipmsgWinEntryUtf8);
    expect(p.options).toBe(Opt.FILEATTACH | Opt.CAPUTF8);
    expect(parseEntryExtra(p.extra, false)).toMatchObject({ nickname: '爱丽丝', group: '研发', utf8User: 'alice', utf8Host: 'pc01' });
  });

  it('decodes a UTF8OPT message', () => {
    const p = parsePacket(fixtures.ipmsgWinMessageUtf8);
    expect(p.options).toBe(Opt.UTF8 | MsgOpt.SENDCHECK);
    expect(messageText(p.extra, true)).toBe('你好 👋');
  });
});

describe('charset of short texts', () => {
  it('reads a GBK text that is also valid UTF-8 in the charset the sender is known to use', () => {
    const yi = Buffer.from([0xd2, 0xbb]); // 一 in GBK; the same bytes are Cyrillic һ in UTF-8
    expect(decodeText(yi, false)).toBe('һ');
    expect(decodeText(yi, false, 'gbk')).toBe('一');
    expect(decodeText(Buffer.from('一', 'utf8'), false, 'utf-8')).toBe('一');
    expect(decodeText(yi, true, 'gbk')).toBe('һ');
  });
});

describe('splitText', () => {
  it('cuts between code points within the byte budget of the charset', () => {
    expect(splitText('short', 10, 'utf-8')).toEqual(['short']);
    const parts = splitText('a😀b你好c', 4, 'utf-8');
    expect(parts.join('')).toBe('a😀b你好c');
    for (const p of parts) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(4);
    expect(splitText('你好你好', 4, 'gbk')).toEqual(['你好', '你好']);
  });
});

describe('attachments', () => {
  it('parses the Windows list, with :: in a name', () => {
    const p = parsePacket(fixtures.ipmsgWinAttach);
    expect(messageText(p.extra, true)).toBe('see file');
    const list = parseAttachments(messageAttachments(p.extra)!, true);
    expect(list).toEqual([
      { id: '26', name: 'report.pdf', size: 123456, mtime: 0x65a1b2c3, attr: FileType.REGULAR },
      { id: '27', name: 'a:b.txt', size: 0, mtime: 0x65a1b2c3, attr: FileType.REGULAR },
    ]);
  });

  it("parses iptux's list with its ':\\a:' terminators, folders included", () => {
    const list = parseAttachments(fixtures.iptuxAttach, false);
    expect(list.map((a) => [a.id, a.name, a.size, a.attr & 0xff])).toEqual([
      ['1', '照片', 0, FileType.DIR],
      ['2', 'notes.txt', 12, FileType.REGULAR],
    ]);
  });

  it('round-trips our own list in GBK', () => {
    const items = [{ id: '7', name: '报告:终稿.pdf', size: 1 << 20, mtime: 1732489000, attr: FileType.REGULAR }];
    expect(parseAttachments(formatAttachments(items, 'gbk'), false)).toEqual(items);
  });

  it('reads a GETFILEDATA request and tries the file id as hex, then as decimal', () => {
    const r = parseFileRequest(fixtures.getFileData, true);
    expect(r).toEqual({ packetNo: 1003, fileIdText: '1a', offset: 0 });
    expect(fileIdCandidates('1a')).toEqual([26]);
    expect(fileIdCandidates('26')).toEqual([38, 26]);
    expect(formatFileRequest(1003, '26', 0).toString()).toBe('3eb:1a:0:');
    expect(formatFileRequest(1003, '26', null).toString()).toBe('3eb:1a:');
  });

  it('round-trips a GETDIRFILES header, waiting for more bytes when cut', () => {
    const h = formatDirHeader('相册:2026', 5, FileType.DIR, 1732489000, 'utf-8');
    expect(h.subarray(0, 4).toString()).toBe(h.length.toString(16).padStart(4, '0'));
    const parsed = parseDirHeader(Buffer.concat([h, Buffer.from('hello')]), true);
    expect(parsed).toEqual({ name: '相册:2026', size: 5, attr: FileType.DIR, headerBytes: h.length });
    expect(parseDirHeader(h.subarray(0, h.length - 1), true)).toBeNull();
  });
});

describe('formatPacket', () => {
  it('round-trips a GBK message with ":" in the user name replaced', () => {
    const data = formatPacket({ packetNo: 42, user: 'a:b', host: '主机', command: Cmd.SENDMSG, options: MsgOpt.SENDCHECK, extra: encodeText('你好', 'gbk') }, '1_pigeon', 'gbk');
    const p = parsePacket(data);
    expect(p).toMatchObject({ version: '1_pigeon', packetNo: 42, user: 'a;b', host: '主机', command: Cmd.SENDMSG, options: MsgOpt.SENDCHECK });
    expect(decodeText(p.extra, false)).toBe('你好');
  });

  it('refuses what real clients would refuse', () => {
    const bad = ['2:1:u:h:32:x', '10:1:u:h:32:x', '1:x:u:h:32:x', '1:1:u:h:32', '1:1:u:h:0x20:x', ':1:u:h:32:x', '1:1:u:h:99999999999:x'];
    for (const text of bad) {
      expect(() => parsePacket(Buffer.from(text)), text).toThrowError(PigeonError);
    }
    expect(() => parsePacket(Buffer.alloc(40000, 0x31))).toThrowError(/larger than/);
  });
});

function onlyProtocolErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PigeonError);
    expect((err as PigeonError).code).toBe(ErrorCodes.PROTOCOL);
  }
}

describe('fuzz', () => {
  const field = fc.oneof(fc.string({ maxLength: 12 }), fc.stringMatching(/^[0-9]{1,12}$/), fc.constantFrom('1', '1_iptux 0.8.3', '1_lbt6_0#128#', ''));
  const packetBytes = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.tuple(fc.array(field, { minLength: 0, maxLength: 7 }), fc.uint8Array({ maxLength: 200 })).map(([fields, tail]) => Buffer.concat([Buffer.from(fields.join(':')), Buffer.from(':'), Buffer.from(tail)])),
  );

  it('parsePacket and the extra parsers give a value or a PROTOCOL error on any input', () => {
    fc.assert(
      fc.property(packetBytes, fc.boolean(), (bytes, utf8) => {
        onlyProtocolErrors(() => {
          const p = parsePacket(bytes);
          parseEntryExtra(p.extra, utf8);
          messageText(p.extra, utf8);
        });
        const buf = Buffer.from(bytes);
        onlyProtocolErrors(() => parseAttachments(buf, utf8));
        onlyProtocolErrors(() => parseFileRequest(buf, utf8));
        onlyProtocolErrors(() => parseDirHeader(buf, utf8));
      }),
      { numRuns: 3000 },
    );
  });

  it('attachment lists built from random names round-trip', () => {
    const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\x07') && !s.includes('\0') && s.trim() === s && s.length > 0 && !s.startsWith(':'));
    fc.assert(
      fc.property(fc.array(fc.record({ name, size: fc.nat(), mtime: fc.nat({ max: 0xffffffff }) }), { maxLength: 10 }), (items) => {
        const list = items.map((it, i) => ({ id: String(i + 1), name: it.name, size: it.size, mtime: it.mtime, attr: FileType.REGULAR }));
        expect(parseAttachments(formatAttachments(list, 'utf-8'), true)).toEqual(list);
      }),
    );
  });
});
