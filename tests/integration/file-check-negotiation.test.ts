/**
 * The file check a receiver asks for (spec §13.3), against a real `pigeon
 * peer --accept-from all` and a hand-made sender: a sender whose hello lists
 * `checks: ["xxh3"]` is asked for XXH3 and its files land when the hash
 * matches, and fail with TRANSFER_INTEGRITY (nothing landed) when it does
 * not; an older sender, whose hello lists nothing, is asked for CRC-32 as
 * before. Both a small file (landed by the data-link worker) and a larger
 * one (streamed into a part file) are tried; a sender whose hello offers
 * fetch-files is asked for small files that way (§13.3), and checked the same.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { SelfInfo, TransferInfo } from '../../shared/api/control-api.js';
import { encodeJsonFrame } from '../../shared/protocol/frame-codec.js';
import { checker } from '../../core/transfer/file-check.js';
import { freeUdpPort, PeerProcess, pigeon, tempHomes } from '../support/cli-peer.js';
import { HostileSender, type FetchAnswer, type FetchFilesAnswer } from '../support/hostile-sender.js';

const running: PeerProcess[] = [];
const homes = tempHomes();
const home = homes.make;
const senders: HostileSender[] = [];

afterEach(async () => {
  for (const s of senders.splice(0)) await s.stop();
  await Promise.all(running.splice(0).map((p) => p.stop()));
  homes.removeAll();
});

/** Sizes on both sides of SMALL_FILE_BYTES (64 KiB): landed whole by the worker, and streamed into a part file. */
const SIZES = { small: 3000, large: 200 * 1024 };

/** The check `alg` of `bytes`, as its file-end member would carry it. */
function hex(alg: string, bytes: Buffer): string {
  if (alg === 'crc32') return crc32(bytes).toString(16).padStart(8, '0');
  const h = checker(alg === 'xxh3' ? 'xxh3' : 'sha256');
  h.update(bytes);
  return h.digest();
}

/** Answers each fetch with `body` and a file-end carrying the check asked for (SHA-256 when none), spoiled if `spoil`. */
function honest(body: Buffer, spoil = false): FetchAnswer {
  return async (f, socket) => {
    const alg = f.check ?? 'sha256';
    socket.write(encodeJsonFrame({ type: 'data', index: f.index, offset: f.offset, length: body.length - f.offset }));
    socket.write(body.subarray(f.offset));
    const value = hex(alg, body);
    socket.write(encodeJsonFrame({ type: 'file-end', index: f.index, [alg]: spoil ? value.replace(/^./, (c) => (c === '0' ? '1' : '0')) : value }));
  };
}

/** Answers each fetch-files with a `files` frame of `body` for every file and the check asked for, spoiled if `spoil`. */
function honestFiles(body: Buffer, spoil = false): FetchFilesAnswer {
  return async (f, socket) => {
    const value = hex(f.check, body);
    const files = f.indexes.map((index) => ({ index, length: body.length, [f.check]: spoil ? value.replace(/^./, (c) => (c === '0' ? '1' : '0')) : value }));
    socket.write(Buffer.concat([encodeJsonFrame({ type: 'files', files }), ...f.indexes.map(() => body)]));
  };
}

async function transfer(label: string, size: number, checks: string[] | undefined, spoil = false, files = false): Promise<{ t: TransferInfo; sender: HostileSender; body: Buffer; downloads: string }> {
  const ha = home(`check-${label}`);
  const alice = new PeerProcess({ home: ha, name: 'Alice', args: ['--discovery-port', String(await freeUdpPort()), '--no-broadcast', '--no-mdns', '--accept-from', 'all'] });
  running.push(alice);
  await alice.ready();
  const self = JSON.parse((await pigeon(['whoami', '--home', ha, '--json'])).stdout) as SelfInfo;
  const body = randomBytes(size);
  const sender = new HostileSender(home(`check-${label}-sender`), 'Sam', honest(body, spoil), checks, files ? honestFiles(body, spoil) : undefined);
  senders.push(sender);
  await sender.start();
  await sender.connect(self.port);
  const id = randomBytes(16).toString('hex');
  sender.offer(id, `${label}.bin`, size);
  const e = await alice.waitFor((ev) => ev.type === 'transfer' && ev.transfer.id === id && ['done', 'failed', 'canceled'].includes(ev.transfer.state), 30_000);
  return { t: (e as Extract<typeof e, { type: 'transfer' }>).transfer, sender, body, downloads: join(ha, 'downloads') };
}

describe('the file check asked of a sender', () => {
  for (const [kind, size] of Object.entries(SIZES)) {
    it(`a sender listing xxh3 is asked for XXH3, and the ${kind} file lands byte for byte`, async () => {
      const { t, sender, body, downloads } = await transfer(`xxh3-${kind}`, size, ['xxh3']);
      expect(sender.fetches.map((f) => f.check)).toEqual(['xxh3']);
      expect(t.state).toBe('done');
      expect(readFileSync(join(downloads, `xxh3-${kind}.bin`)).equals(body)).toBe(true);
    });

    it(`an older sender (no checks in its hello) is asked for CRC-32, and the ${kind} file lands`, async () => {
      const { t, sender, body, downloads } = await transfer(`crc-${kind}`, size, undefined);
      expect(sender.fetches.map((f) => f.check)).toEqual(['crc32']);
      expect(t.state).toBe('done');
      expect(readFileSync(join(downloads, `crc-${kind}.bin`)).equals(body)).toBe(true);
    });

    it(`a wrong XXH3 for the ${kind} file fails the transfer with TRANSFER_INTEGRITY and lands nothing`, async () => {
      const { t, downloads } = await transfer(`bad-${kind}`, size, ['xxh3'], true);
      expect(t.state).toBe('failed');
      expect(t.error).toMatch(/PIGEON_ERR_TRANSFER_INTEGRITY|XXH3 mismatch/);
      expect(existsSync(join(downloads, `bad-${kind}.bin`))).toBe(false);
    });
  }

  it('a sender whose hello offers fetch-files is asked for a small file in one, with XXH3, and it lands byte for byte', async () => {
    const { t, sender, body, downloads } = await transfer('many', SIZES.small, ['xxh3'], false, true);
    expect(sender.fetchFiles).toEqual([{ transfer: t.id, indexes: [0], check: 'xxh3' }]);
    expect(sender.fetches).toEqual([]);
    expect(t.state).toBe('done');
    expect(readFileSync(join(downloads, 'many.bin')).equals(body)).toBe(true);
  });

  it('a wrong XXH3 in a files answer fails the transfer with TRANSFER_INTEGRITY and lands nothing', async () => {
    const { t, sender, downloads } = await transfer('many-bad', SIZES.small, ['xxh3'], true, true);
    expect(sender.fetchFiles.length).toBeGreaterThan(0);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/PIGEON_ERR_TRANSFER_INTEGRITY|XXH3 mismatch/);
    expect(existsSync(join(downloads, 'many-bad.bin'))).toBe(false);
  });

  it('a large file is fetched on its own from a sender that offers fetch-files', async () => {
    const { t, sender, body, downloads } = await transfer('many-large', SIZES.large, ['xxh3'], false, true);
    expect(sender.fetchFiles).toEqual([]);
    expect(sender.fetches.map((f) => f.check)).toEqual(['xxh3']);
    expect(t.state).toBe('done');
    expect(readFileSync(join(downloads, 'many-large.bin')).equals(body)).toBe(true);
  });
});
