/**
 * Hostile: mailbox squatting against a real `pigeon relay` process (issue
 * 13: "one device put 10,000 junk envelopes into Bob's mailbox in 10 s ...
 * Carol's real message then stayed queued"). Junk signed by its sender
 * counts against that sender's quota only; junk with a forged signature is
 * not stored at all; oversize bodies are refused by the schema; and Carol's
 * message still gets in and reaches Bob.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { CLIENT_MESSAGE_RATE, MAX_ENVELOPE_CHARS } from '../../shared/protocol/relay-frames.js';
import { Client, clients, envelope, makeDevice, msgId } from '../support/relay-ws-client.js';
import { pigeon, removeHome, tempHome } from '../support/cli-peer.js';
import { RelayPeers } from '../support/relay-peer-setup.js';
import { startRelayProcess, stopRelayProcesses } from './hostile-relay.js';

const peerEnvs: Array<{ env: RelayPeers; work: string }> = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await stopRelayProcesses();
  for (const { env, work } of peerEnvs.splice(0)) {
    await env.stop();
    removeHome(work);
  }
});

/** Sends `n` puts in batches, paced under the relay's message rate (as fast as a client may), and counts the answers by kind. */
async function flood(c: Client, n: number, body: (id: string) => unknown, to: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const BATCH = 500;
  const start = Date.now();
  for (let done = 0; done < n; done += BATCH) {
    const due = start + (done / (CLIENT_MESSAGE_RATE * 0.9)) * 1000;
    if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
    const size = Math.min(BATCH, n - done);
    for (let i = 0; i < size; i++) {
      const id = msgId();
      c.send({ type: 'put', id, to, body: body(id) });
    }
    for (let i = 0; i < size; i++) {
      const f = await c.take(['put-ack', 'error']);
      const key = f.type === 'put-ack' ? 'stored' : f.code;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  }
  return counts;
}

describe('hostile: mailbox junk', () => {
  it("one device's junk fills only its own share of Bob's mailbox; Carol's message still gets in", async () => {
    const r = await startRelayProcess(); // default quotas: 10,000 per mailbox, 2,000 and 16 MiB per sender
    const [bob, mallory, carol] = [makeDevice(), makeDevice(), makeDevice()];
    (await r.connect(bob, undefined, 'Bob')).ws.close();
    const m = await r.connect(mallory, '127.0.0.90', 'Mallory');
    const t0 = Date.now();
    const signed = await flood(m, 10_000, (id) => envelope(`junk ${id}`.repeat(20), { from: mallory, to: bob.id, id }), bob.id);
    const forged = await flood(m, 500, () => envelope('forged'), bob.id);
    const big = await flood(m, 60, (id) => envelope('x'.repeat(290_000), { from: mallory, to: bob.id, id }), bob.id);
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    // A body over the protocol's bound is not even parsed: the connection is closed as a protocol error.
    m.send({ type: 'put', id: msgId(), to: bob.id, body: { ...envelope('y'), ct: 'A'.repeat(MAX_ENVELOPE_CHARS + 4) } });
    const oversize = await m.take('error');

    const c = await r.connect(carol, '127.0.0.91', 'Carol');
    const carolId = msgId();
    c.send({ type: 'put', id: carolId, to: bob.id, body: envelope('hello Bob, from Carol', { from: carol, to: bob.id, id: carolId }) });
    const carolAnswer = await c.take(['put-ack', 'error']);

    const b = await r.connect(bob, undefined, 'Bob');
    let got = false;
    let waiting = 0;
    for (let after = 0; ; ) {
      b.send({ type: 'sync', after, limit: 500 });
      const synced = await b.take('synced');
      for (const d of b.pending('deliver').splice(0)) {
        waiting++;
        if ((d as { id: string }).id === carolId) got = true;
      }
      while (b.pending('deliver').length > 0) await b.take('deliver');
      after = synced.last;
      if (synced.complete) break;
    }
    console.log(
      `mailbox junk: Mallory sent 10,000 signed junk puts (${JSON.stringify(signed)}), 500 with forged signatures (${JSON.stringify(forged)}), ` +
        `60 of ~390 KB (${JSON.stringify(big)}) in ${seconds} s, one over MAX_ENVELOPE_CHARS (${oversize.code}); ` +
        `Carol's put got ${carolAnswer.type}; Bob's mailbox held ${waiting} entries and Carol's message ${got ? 'was' : 'was NOT'} among them`,
    );
    expect(signed).toEqual({ stored: 2000, [ErrorCodes.RELAY_QUOTA]: 8000 });
    expect(forged).toEqual({ [ErrorCodes.RELAY_SIGNATURE]: 500 });
    expect(big.stored ?? 0).toBe(0); // Mallory's share is used up already
    expect(oversize.code).toBe(ErrorCodes.PROTOCOL);
    expect(carolAnswer.type).toBe('put-ack');
    expect(got).toBe(true);
    expect(waiting).toBe(2001);
    expect(r.logs().some((l) => l.msg === 'sender quota reached' && l.from === mallory.id)).toBe(true);
    expect(r.logs().some((l) => l.msg === 'put refused' && l.reason === 'bad envelope signature')).toBe(true);
  });

  it('one sender is held to its byte share with the largest bodies', async () => {
    const r = await startRelayProcess(['--sender-bytes', '4M']);
    const [bob, mallory] = [makeDevice(), makeDevice()];
    (await r.connect(bob, undefined, 'Bob')).ws.close();
    const m = await r.connect(mallory, '127.0.0.92', 'Mallory');
    const big = await flood(m, 30, (id) => envelope('x'.repeat(290_000), { from: mallory, to: bob.id, id }), bob.id);
    console.log(`mailbox junk, bytes: 30 puts of ~390 KB with --sender-bytes 4M: ${JSON.stringify(big)}`);
    // 4 MiB / ~386,700 characters per body: 10 fit.
    expect(big).toEqual({ stored: 10, [ErrorCodes.RELAY_QUOTA]: 20 });
  });

  it("with real peers: Mallory's 10,000 junk puts to Bob, then Carol's message is relayed and Bob reads it", async () => {
    const work = tempHome('hostile-junk');
    const env = new RelayPeers(work);
    peerEnvs.push({ env, work });
    const relay = await env.relay().listening;
    const bob = await env.peer('Bob', relay);
    await bob.waitFor((e) => e.type === 'relay' && e.relay.connected);
    const bobId = (JSON.parse((await pigeon(['whoami', '--home', join(work, 'Bob'), '--json'])).stdout) as { id: string }).id;
    await bob.stop();

    const mallory = makeDevice();
    const m = new Client(`wss://127.0.0.1:${relay.port}/pigeon/1`, undefined, { localAddress: '127.0.0.93' });
    await m.auth(mallory, { name: 'Mallory' });
    const junk = await flood(m, 10_000, (id) => envelope(`junk ${id}`, { from: mallory, to: bobId, id }), bobId);

    const carol = await env.peer('Carol', relay);
    await carol.waitFor((e) => e.type === 'relay' && e.relay.connected);
    const sent = await pigeon(['send', '--home', join(work, 'Carol'), 'Bob', 'hello Bob, from Carol', '--json']);
    expect(sent.code, sent.stderr).toBe(0);
    const id = (JSON.parse(sent.stdout) as MessageInfo).id;
    const relayed = await carol.waitFor((e: PeerEvent) => e.type === 'message-state' && e.message.id === id && e.message.state === 'relayed', 30_000).then(
      () => true,
      () => false,
    );
    const back = await env.peer('Bob', relay);
    const read = await back.waitFor((e: PeerEvent) => e.type === 'message' && e.message.id === id && e.message.text === 'hello Bob, from Carol', 60_000).then(
      () => true,
      () => false,
    );
    console.log(`mailbox junk, real peers: Mallory's 10,000 junk puts to Bob: ${JSON.stringify(junk)}; Carol's message ${relayed ? 'was relayed' : 'stayed queued'}; Bob ${read ? 'got it' : 'did NOT get it'} when he came back`);
    expect(junk).toEqual({ stored: 2000, [ErrorCodes.RELAY_QUOTA]: 8000 });
    expect(relayed).toBe(true);
    expect(read).toBe(true);
  }, 180_000);
});
