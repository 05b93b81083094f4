/**
 * LocalSend between two hosts on a LAN of network namespaces (see
 * ../support/netns.ts): two `pigeon peer --localsend` processes on LocalSend's
 * defaults (port 53317, group 224.0.0.167, HTTPS), finding each other by
 * multicast only. Files both ways byte-exact (a folder with unicode names and
 * an empty file, and a 200 MB random file), decline both ways, and a PIN over
 * plain HTTP. Both sides are Pigeon; localsend-independent.test.ts puts an
 * independent implementation on the other side.
 *
 * Needs root and iproute2; skipped with a warning otherwise.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PeerInfo, TransferInfo } from '../../shared/api/control-api.js';
import { hashTree, randomFile, sha256File } from '../support/big-files.js';
import { pigeonJson } from '../support/group-steps.js';
import { untilDefined } from '../support/until.js';
import { PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { createLan, netnsUnavailable, type Lan } from '../support/netns.js';

const skipReason = await netnsUnavailable();
if (skipReason) console.warn(`tests/netns/localsend.test.ts skipped: ${skipReason}`);

const TEST_MS = 180_000;
/** The large file. */
const BIG_MIB = 200;

let lan: Lan | null = null;
const running: PeerProcess[] = [];
const dirs: string[] = [];

function dir(label: string): string {
  const d = tempHome(`netns-ls-${label}`);
  dirs.push(d);
  return d;
}

const tree = (root: string): Promise<Record<string, string>> => hashTree(root);

const json = pigeonJson;
const until = untilDefined;

/** Alice on host a, Bob on host b, both LocalSend on its defaults; `extra` per side. */
async function startPair(extraA: string[] = [], extraB: string[] = []): Promise<{ ha: string; hb: string }> {
  const [ha, hb] = [dir('a'), dir('b')];
  // Native discovery off: the two Pigeons meet only as LocalSend devices.
  const common = ['--no-mdns', '--no-broadcast', '--localsend', '--localsend-accept-pigeons'];
  const alice = new PeerProcess({ home: ha, name: 'Alice', args: [...common, '--downloads', join(ha, 'dl'), ...extraA], prefix: lan!.host('a').prefix });
  const bob = new PeerProcess({ home: hb, name: 'Bob', args: [...common, '--downloads', join(hb, 'dl'), ...extraB], prefix: lan!.host('b').prefix });
  running.push(alice, bob);
  await Promise.all([alice.ready(), bob.ready()]);
  return { ha, hb };
}

/** The contact `name` as LocalSend, once listed by `home`'s peer. */
function localsendContact(home: string, name: string): Promise<PeerInfo> {
  return until(`${name} listed as LocalSend`, async () => (await json<PeerInfo[]>(['peers', '--home', home])).find((p) => p.name === name && p.protocol === 'localsend' && p.online));
}

function offer(home: string): Promise<TransferInfo> {
  return until('an offer', async () => (await json<TransferInfo[]>(['transfers', '--home', home])).find((t) => t.direction === 'in' && t.state === 'offered'));
}

describe.skipIf(skipReason !== null)('LocalSend between two hosts on a LAN of network namespaces', () => {
  beforeAll(async () => {
    lan = await createLan(['a', 'b']);
    await lan.setMulticastRoute(true);
  });

  afterEach(async () => {
    for (const p of running.splice(0)) await p.stop();
  });

  afterAll(async () => {
    await lan?.destroy();
    for (const d of dirs) removeHome(d);
  });

  it(
    'find each other by multicast and move files both ways byte-exact, a folder and 200 MB; decline both ways',
    async () => {
      const { ha, hb } = await startPair();
      const bob = await localsendContact(ha, 'Bob');
      const alice = await localsendContact(hb, 'Alice');
      expect(bob.addresses[0]).toBe(lan!.host('b').address);
      expect(alice.addresses[0]).toBe(lan!.host('a').address);
      expect(bob.fingerprint).toMatch(/^[0-9A-F]{64}$/);
      // Native discovery is off: the only Bob is the LocalSend one, so every transfer below is LocalSend.
      expect((await json<PeerInfo[]>(['peers', '--home', ha])).filter((p) => p.name === 'Bob')).toHaveLength(1);

      const src = join(ha, 'src');
      mkdirSync(join(src, 'Überweisung 2026', 'sub'), { recursive: true });
      writeFileSync(join(src, 'Überweisung 2026', 'leer.txt'), '');
      writeFileSync(join(src, 'Überweisung 2026', 'sub', '报告.md'), '# 报告\n'.repeat(1000));
      randomFile(join(src, 'big.bin'), BIG_MIB);
      const send = pigeon(['send-file', '--home', ha, '--wait', 'Bob', join(src, 'Überweisung 2026'), join(src, 'big.bin')]);
      const incoming = await offer(hb);
      const accepted = await pigeon(['accept', '--home', hb, incoming.id]);
      expect(accepted.code, accepted.stderr).toBe(0);
      const sent = await send;
      expect(sent.code, sent.stderr).toBe(0);
      expect(await tree(join(hb, 'dl'))).toEqual(await tree(src));

      // Back from Bob, declined by Alice, then accepted.
      const back = join(hb, 'back.txt');
      writeFileSync(back, 'from Bob');
      const declined = pigeon(['send-file', '--home', hb, '--wait', 'Alice', back]);
      const o1 = await offer(ha);
      expect((await pigeon(['decline', '--home', ha, o1.id])).code).toBe(0);
      const d = await declined;
      expect(d.code).not.toBe(0);
      expect(d.stdout + d.stderr).toMatch(/declined/);
      const again = pigeon(['send-file', '--home', hb, '--wait', 'Alice', back]);
      const o2 = await offer(ha);
      expect((await pigeon(['accept', '--home', ha, o2.id])).code).toBe(0);
      expect((await again).code).toBe(0);
      expect(await tree(join(ha, 'dl'))).toEqual({ 'back.txt': await sha256File(back) });

      // And Bob declines one of Alice's.
      const small = join(ha, 'small.txt');
      writeFileSync(small, 'x');
      const refused = pigeon(['send-file', '--home', ha, '--wait', 'Bob', small]);
      const o3 = await offer(hb);
      expect((await pigeon(['decline', '--home', hb, o3.id])).code).toBe(0);
      expect((await refused).code).not.toBe(0);
    },
    TEST_MS,
  );

  it(
    'a PIN over plain HTTP: refused without it, taken with it',
    async () => {
      const { ha, hb } = await startPair(['--localsend-http'], ['--localsend-http', '--localsend-pin', '975310', '--accept-from', 'Alice']);
      await localsendContact(ha, 'Bob');
      const f = join(ha, 'p.txt');
      writeFileSync(f, 'with a PIN');
      const without = await pigeon(['send-file', '--home', ha, '--wait', 'Bob', f]);
      expect(without.code, without.stdout + without.stderr).not.toBe(0);
      expect(without.stdout + without.stderr).toMatch(/PIGEON_ERR_LOCALSEND_PIN/);
      const withPin = await pigeon(['send-file', '--home', ha, '--wait', '--pin', '975310', 'Bob', f]);
      expect(withPin.code, withPin.stderr).toBe(0);
      expect(await tree(join(hb, 'dl'))).toEqual({ 'p.txt': await sha256File(f) });
    },
    TEST_MS,
  );
});
