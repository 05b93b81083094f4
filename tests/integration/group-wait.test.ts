/**
 * `pigeon send --wait <group>` (issue 14, item 5's --wait; spec §12.8): it
 * returns once the relay stored the message in the group's log, says so,
 * and exits 0 (it used to wait 30 s for a "delivered" that a group message
 * never reaches, and exit 5). With the relay down, nothing is stored and it
 * exits 5 after --timeout, then goes once the relay is back.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GroupInfo, MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { pigeon, removeHome, tempHome, type PeerProcess } from '../support/cli-peer.js';
import type { RelayListening } from '../support/relay-process.js';
import { RelayPeers } from '../support/relay-peer-setup.js';

let work: string;
let env: RelayPeers;

beforeEach(() => {
  work = tempHome('group-wait');
  env = new RelayPeers(work);
});

afterEach(async () => {
  await env.stop();
  removeHome(work);
});

async function startPeer(name: string, relay: RelayListening): Promise<PeerProcess> {
  const p = await env.peer(name, relay);
  await p.waitFor((e) => e.type === 'relay' && e.relay.connected);
  return p;
}

const home = (name: string): string => join(work, name);
const remoteSeen = (name: string) => (e: PeerEvent) => (e.type === 'peer-online' || e.type === 'peer-updated') && e.peer.name === name && e.peer.remote;

describe('send --wait to a group', () => {
  it('returns once the relay stored it, says which, exits 0; with the relay down exits 5, and the message goes later', async () => {
    const relayProc = env.relay([], 0);
    const relay = await relayProc.listening;
    const alice = await startPeer('Alice', relay);
    const bob = await startPeer('Bob', relay);
    await alice.waitFor(remoteSeen('Bob'));
    const created = await pigeon(['group', 'create', '--home', home('Alice'), 'Sales', 'Bob', '--json']);
    const g = JSON.parse(created.stdout) as GroupInfo;
    await bob.waitFor((e) => e.type === 'group' && e.group.id === g.id && e.group.joined);

    const started = Date.now();
    const r = await pigeon(['send', '--home', home('Alice'), 'Sales', 'quarter closed', '--wait']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{32} relayed \(stored on the relay for every member\)\n$/);
    // Well under the 30 s default timeout it used to sit out.
    expect(Date.now() - started).toBeLessThan(10_000);
    const j = await pigeon(['send', '--home', home('Alice'), 'Sales', 'second', '--wait', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout) as MessageInfo).toMatchObject({ state: 'relayed', group: g.id, seq: 2 });
    await bob.waitFor((e) => e.type === 'message' && e.message.text === 'second');

    await relayProc.stop();
    await alice.waitFor((e) => e.type === 'relay' && !e.relay.connected);
    const down = await pigeon(['send', '--home', home('Alice'), 'Sales', 'while the relay is down', '--wait', '--timeout', '2']);
    expect(down.code).toBe(5);
    expect(down.stderr).toContain('not stored on the relay within 2 s (state: queued)');
    env.relay([], relay.port);
    await bob.waitFor((e) => e.type === 'message' && e.message.text === 'while the relay is down', 30_000);
  }, 90_000);
});
