/**
 * A colleague known by name from the history (messages exchanged) but offline
 * after a restart (issue 12): `pigeon send NAME` must find them and queue the
 * message, never answer PEER_NOT_FOUND, and the message goes when they are
 * back. Both ways a conversation makes someone known: they wrote to us (a
 * session confirmed them), or we wrote to them. Alice is killed with -9
 * before her restart: what makes a colleague known must already be on disk.
 */
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

describe('a colleague known from the history, offline after a restart', () => {
  it('is found by name and the message is queued, then delivered when they are back', async () => {
    const port = await freeUdpPort();
    const args = ['--discovery-port', String(port), '--broadcast', '127.255.255.255', '--no-mdns'];
    const [ha, hb, hc] = [tempHome('oc-a'), tempHome('oc-b'), tempHome('oc-c')];
    homes.push(ha, hb, hc);
    let alice = new PeerProcess({ home: ha, name: 'Alice', args });
    let bob = new PeerProcess({ home: hb, name: 'Bob', args });
    let carol = new PeerProcess({ home: hc, name: 'Carol', args });
    running.push(alice, bob, carol);
    await Promise.all([alice.ready(), bob.ready(), carol.ready()]);
    await Promise.all([alice.sees('Bob'), alice.sees('Carol'), bob.sees('Alice'), carol.sees('Alice')]);

    // Bob writes to Alice (she never writes to him); Alice writes to Carol.
    expect((await pigeon(['send', '--home', hb, 'Alice', 'from Bob', '--wait'])).code).toBe(0);
    expect((await pigeon(['send', '--home', ha, 'Carol', 'to Carol', '--wait'])).code).toBe(0);

    // Everyone goes; Alice is killed, then comes back alone.
    await Promise.all([bob.stop(), carol.stop()]);
    await alice.kill9();
    running.length = 0;
    alice = new PeerProcess({ home: ha, name: 'Alice', args });
    running.push(alice);
    await alice.ready();
    const peers = await json<PeerInfo[]>(['peers', '--home', ha]);
    console.log(`after the restart Alice lists: ${peers.map((p) => `${p.name} (${p.online ? 'online' : 'offline'})`).join(', ')}`);
    expect(peers.filter((p) => !p.online).map((p) => p.name).sort()).toEqual(['Bob', 'Carol']);

    const results = await Promise.all(['Bob', 'Carol'].map((name) => pigeon(['send', '--home', ha, name, `back? ${name}`, '--json'])));
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as MessageInfo).state).toBe('queued');
    }
    console.log(`send Bob / send Carol while both are offline: exit ${results.map((r) => r.code).join(' / ')}, queued`);

    // Back: each gets the message that waited for them.
    bob = new PeerProcess({ home: hb, name: 'Bob', args });
    carol = new PeerProcess({ home: hc, name: 'Carol', args });
    running.push(bob, carol);
    await Promise.all(
      ['Bob', 'Carol'].map((name) => alice.waitFor((e) => e.type === 'message-state' && e.message.text === `back? ${name}` && e.message.state === 'delivered', 30_000)),
    );
    const atBob = await json<MessageInfo[]>(['history', '--home', hb, 'Alice']);
    expect(atBob.map((m) => m.text)).toEqual(['from Bob', 'back? Bob']);
    const atCarol = await json<MessageInfo[]>(['history', '--home', hc, 'Alice']);
    expect(atCarol.map((m) => m.text)).toEqual(['to Carol', 'back? Carol']);
  });
});
