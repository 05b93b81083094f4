/**
 * A reinstalled colleague (issue 1/6 item 4): Carol's device key is
 * regenerated (her key files deleted from her profile), same name and host.
 * Alice must see ONE Carol marked "key changed", not a second contact; a
 * message to Carol waits in the outbox, shown blocked, and `send` says why on
 * stderr with the fix; after `pigeon trust Carol` the history continues in the
 * same conversation and the outbox (a scheduled message included) goes to the
 * new device.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerInfo } from '../../shared/api/control-api.js';
import { freeUdpPort, PeerProcess, pigeon, removeHome, tempHome } from '../support/cli-peer.js';

const running: PeerProcess[] = [];
const homes: string[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  for (const h of homes.splice(0)) removeHome(h);
});

async function json<T>(args: string[]): Promise<T> {
  const r = await pigeon([...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
}

describe('a reinstalled colleague', () => {
  it('stays one contact marked "key changed"; after trust the history and the outbox continue', async () => {
    const port = await freeUdpPort();
    const args = ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [ha, hc] = [tempHome('re-a'), tempHome('re-c')];
    homes.push(ha, hc);
    const alice = new PeerProcess({ home: ha, name: 'Alice', args });
    let carol = new PeerProcess({ home: hc, name: 'Carol', args });
    running.push(alice, carol);
    const oldId = await carol.ready();
    await alice.sees('Carol');
    expect((await pigeon(['send', '--home', ha, 'Carol', 'before the reinstall', '--wait'])).code).toBe(0);

    await carol.stop();
    await alice.waitFor((e) => e.type === 'peer-offline' && e.peer.id === oldId);
    rmSync(join(hc, 'device-key.pem'));
    rmSync(join(hc, 'device-cert.pem'));
    carol = new PeerProcess({ home: hc, name: 'Carol', args });
    running.push(carol);
    const newId = await carol.ready();
    expect(newId).not.toBe(oldId);
    await alice.waitFor((e) => e.type === 'peer-online' && e.peer.id === newId);

    const listed = (await json<PeerInfo[]>(['peers', '--home', ha])).filter((p) => p.name === 'Carol');
    const table = (await pigeon(['peers', '--home', ha])).stdout;
    const sent = await pigeon(['send', '--home', ha, 'Carol', 'written before trust', '--json']);
    const queued = JSON.parse(sent.stdout) as MessageInfo;
    const scheduled = await json<MessageInfo>(['send', '--home', ha, 'Carol', 'scheduled before trust', '--at', '+6s']);
    const blocked = (await pigeon(['history', '--home', ha, 'Carol'])).stdout;
    console.log(`reinstalled Carol: ${listed.length} contact(s) named Carol, keyChanged=${JSON.stringify(listed[0]?.keyChanged?.id.slice(0, 8))}; send -> exit ${sent.code}, stderr ${JSON.stringify(sent.stderr.trim())}`);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: oldId, pinned: true, keyChanged: { id: newId } });
    expect(table).toMatch(/KEY CHANGED/);
    expect(sent.code).toBe(0);
    expect(sent.stderr).toMatch(/Carol's key changed/);
    expect(sent.stderr).toMatch(/pigeon trust Carol/);
    expect(queued).toMatchObject({ peer: oldId, state: 'queued', warning: { code: 'PIGEON_ERR_KEY_CHANGED' } });
    expect(scheduled.state).toBe('scheduled');
    expect(blocked).toMatch(/written before trust\s+\(queued, blocked: key changed\)/);
    await new Promise((r) => setTimeout(r, 1500));
    expect(carol.events.some((e) => e.type === 'message')).toBe(false);

    const trusted = await pigeon(['trust', '--home', ha, 'carol', '--json']);
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(JSON.parse(trusted.stdout)).toMatchObject({ name: 'Carol', fingerprint: expect.stringMatching(/^[0-9a-f]{4} /) });
    await carol.waitFor((e) => e.type === 'message' && e.message.text === 'written before trust', 20_000);
    await carol.waitFor((e) => e.type === 'message' && e.message.text === 'scheduled before trust', 30_000);
    const after = (await json<PeerInfo[]>(['peers', '--home', ha])).filter((p) => p.name === 'Carol');
    const history = await json<MessageInfo[]>(['history', '--home', ha, 'Carol']);
    console.log(`after trust: ${after.length} Carol (${after[0]?.id.slice(0, 8)}), history ${JSON.stringify(history.map((m) => [m.text, m.state]))}`);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: newId, pinned: true });
    expect(after[0]!.keyChanged).toBeUndefined();
    expect(history.map((m) => m.text)).toEqual(['before the reinstall', 'written before trust', 'scheduled before trust']);
    expect(history.every((m) => m.peer === newId)).toBe(true);
    // A new message goes straight to the new device.
    expect((await pigeon(['send', '--home', ha, 'Carol', 'after trust', '--wait'])).code).toBe(0);
  }, 120_000);
});
