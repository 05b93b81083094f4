/**
 * In-process tests of the messenger: two Messengers with real SQLite stores
 * in a temporary folder, joined by an in-memory channel pair (FakeChannel),
 * on a hand-driven clock (ManualClock). Covers store-then-ack, duplicates
 * dropped by id, the outbox sent again after a reconnect, the ack timeout,
 * order across a sender restart and a receiver restart, written vs received
 * time, and scheduled messages going at their time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { ErrorCodes } from '../../shared/protocol/errors.js';
import { Store } from '../store/store.js';
import { silentLogger, systemRandom } from '../util/components.js';
import { ManualClock } from '../util/manual-clock.js';
import { FakeChannel } from './fake-channel.js';
import { Messenger } from './messenger.js';

const ALICE = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
/** The messenger's ack timeout (ACK_TIMEOUT_MS in messenger.ts) and tick. */
const ACK_TIMEOUT_MS = 20_000;
const TICK_MS = 1000;

let dir: string;
let clock: ManualClock;
const nodes: Node[] = [];

/** One side: a device id, its store file, its messenger, what it emitted and asked for. */
class Node {
  store!: Store;
  messenger!: Messenger;
  events: PeerEvent[] = [];
  /** Peers the messenger asked a session for. */
  dialed: string[] = [];
  channel: FakeChannel | null = null;

  constructor(readonly id: string) {
    this.open();
    nodes.push(this);
  }

  open(): void {
    this.store = new Store(join(dir, `${this.id}.db`), clock);
    this.events = [];
    this.messenger = new Messenger({ store: this.store, clock, random: systemRandom, logger: silentLogger }, (e) => this.events.push(e), (peer) => this.dialed.push(peer));
    this.messenger.start();
  }

  /** Stops and opens again on the same database file: a restart. */
  restart(): void {
    this.close();
    this.open();
  }

  close(): void {
    this.channel?.close('stopped');
    this.messenger.stop();
    this.store.close();
  }

  history(peer: string): MessageInfo[] {
    return this.store.history(peer, 1000);
  }

  texts(peer: string): string[] {
    return this.history(peer).map((m) => m.text);
  }

  /** Messages announced as new (a 'message' event). */
  arrivals(): MessageInfo[] {
    return this.events.flatMap((e) => (e.type === 'message' ? [e.message] : []));
  }
}

/** A session between two nodes, both messengers attached. */
function connect(a: Node, b: Node): [FakeChannel, FakeChannel] {
  const [atA, atB] = FakeChannel.pair(a.id, b.id);
  a.channel = atA;
  b.channel = atB;
  a.messenger.attach(atA, () => {});
  b.messenger.attach(atB, () => {});
  return [atA, atB];
}

/** Lets frames travel and batches flush (microtasks and setImmediate turns; no time passes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-messenger-'));
  clock = new ManualClock();
});

afterEach(() => {
  for (const n of nodes.splice(0)) n.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Messenger', () => {
  it('stores an incoming message before it acknowledges it, and the sender marks it delivered', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    const sent = await alice.messenger.send(BOB, 'hello');
    expect(sent.state).toBe('queued');
    expect(alice.dialed).toContain(BOB); // nothing open: it asks for a session
    const [, atB] = connect(alice, bob);
    const storedAtAck: boolean[] = [];
    const send = atB.send.bind(atB);
    atB.send = (frame) => {
      if (frame.type === 'ack') for (const id of frame.ids) storedAtAck.push(bob.history(ALICE).some((m) => m.id === id));
      send(frame);
    };
    await settle();
    expect(storedAtAck).toEqual([true]);
    expect(alice.store.getOutgoing(sent.id)?.state).toBe('delivered');
    expect(bob.arrivals().map((m) => m.text)).toEqual(['hello']);
  });

  it('drops a duplicate by id, and acknowledges it again', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    const [, atB] = connect(alice, bob);
    const m = await alice.messenger.send(BOB, 'once');
    await settle();
    atB.receive({ type: 'msg', id: m.id, seq: m.seq!, ts: m.ts, text: 'once, again' });
    await settle();
    expect(bob.texts(ALICE)).toEqual(['once']);
    expect(bob.arrivals()).toHaveLength(1);
    expect(atB.sentOf('ack').flatMap((f) => f.ids)).toEqual([m.id, m.id]);
  });

  it('sends the outbox again on the next session when the first lost the messages or the acks', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    // First session: Alice's frames are lost.
    let [atA] = connect(alice, bob);
    atA.losing = true;
    for (const text of ['one', 'two', 'three']) await alice.messenger.send(BOB, text);
    await settle();
    expect(bob.texts(ALICE)).toEqual([]);
    expect(alice.messenger.overlay(alice.history(BOB)).map((m) => m.state)).toEqual(['sent', 'sent', 'sent']);
    atA.close('cut');
    // Second session: Bob stores them, but his acks are lost.
    const second = connect(alice, bob);
    atA = second[0];
    second[1].losing = true;
    await settle();
    expect(bob.texts(ALICE)).toEqual(['one', 'two', 'three']);
    expect(alice.history(BOB).map((m) => m.state)).toEqual(['queued', 'queued', 'queued']);
    atA.close('cut');
    // Third session: everything goes through, nothing twice.
    connect(alice, bob);
    await settle();
    expect(alice.history(BOB).map((m) => m.state)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(bob.texts(ALICE)).toEqual(['one', 'two', 'three']);
    expect(bob.arrivals()).toHaveLength(3);
  });

  it('closes a session that acknowledges nothing for the ack timeout, on the clock', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    const [atA] = connect(alice, bob);
    atA.losing = true;
    await alice.messenger.send(BOB, 'into the void');
    await settle();
    clock.advance(ACK_TIMEOUT_MS - TICK_MS);
    expect(atA.isOpen).toBe(true);
    clock.advance(2 * TICK_MS);
    expect(atA.isOpen).toBe(false);
    expect(atA.closeReason).toBe('acknowledgement timeout');
  });

  it('keeps the order across two sender restarts (seq is persisted)', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    await alice.messenger.send(BOB, 'm1');
    await alice.messenger.send(BOB, 'm2');
    alice.restart();
    clock.advance(1000);
    await alice.messenger.send(BOB, 'm3');
    connect(alice, bob);
    await settle();
    alice.restart();
    clock.advance(1000);
    await alice.messenger.send(BOB, 'm4');
    await alice.messenger.send(BOB, 'm5');
    connect(alice, bob);
    await settle();
    expect(bob.history(ALICE).map((m) => [m.text, m.seq])).toEqual([
      ['m1', 1],
      ['m2', 2],
      ['m3', 3],
      ['m4', 4],
      ['m5', 5],
    ]);
    expect(alice.history(BOB).every((m) => m.state === 'delivered')).toBe(true);
  });

  it('keeps the order across a receiver restart, even when a later message came first through the relay', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    connect(alice, bob);
    await alice.messenger.send(BOB, 'm1');
    await alice.messenger.send(BOB, 'm2');
    await settle();
    bob.restart();
    clock.advance(5000);
    await alice.messenger.send(BOB, 'm3');
    const m4 = await alice.messenger.send(BOB, 'm4');
    // m4 reaches Bob through the relay mailbox before m3 comes on the session.
    clock.advance(5000);
    bob.messenger.receiveRelayed(ALICE, [{ id: m4.id, seq: m4.seq!, ts: m4.ts, text: m4.text }]);
    clock.advance(5000);
    connect(alice, bob);
    await settle();
    expect(bob.texts(ALICE)).toEqual(['m1', 'm2', 'm3', 'm4']);
    bob.restart();
    expect(bob.texts(ALICE)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(bob.history(ALICE).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('shows when a message was written and keeps when it was received', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    const written = clock.now();
    const m = await alice.messenger.send(BOB, 'written at 07:40:40');
    // Bob is away for 88 s; the message waits in Alice's outbox.
    clock.advance(88_000);
    connect(alice, bob);
    await settle();
    const [got] = bob.history(ALICE);
    expect(got).toMatchObject({ id: m.id, ts: written, received: written + 88_000, order: written + 88_000 });
    expect(alice.history(BOB)[0]).toMatchObject({ ts: written, received: null, order: written });
    // Bob's reply, written after he saw it, comes after it in both conversations.
    clock.advance(2000);
    await bob.messenger.send(ALICE, 'reply');
    await settle();
    expect(bob.texts(ALICE)).toEqual(['written at 07:40:40', 'reply']);
    expect(alice.texts(BOB)).toEqual(['written at 07:40:40', 'reply']);
  });

  it('sends a scheduled message at its time, not before', async () => {
    const alice = new Node(ALICE);
    const bob = new Node(BOB);
    connect(alice, bob);
    const due = clock.now() + 60_000;
    const m = await alice.messenger.send(BOB, 'stand-up', due);
    expect(m.state).toBe('scheduled');
    await settle();
    clock.advance(59_999);
    await settle();
    expect(bob.texts(ALICE)).toEqual([]);
    clock.advance(1);
    await settle();
    expect(bob.history(ALICE)).toMatchObject([{ text: 'stand-up', ts: due, seq: 1 }]);
    expect(alice.store.getOutgoing(m.id)).toMatchObject({ state: 'delivered', ts: due });
    expect(alice.channel!.isOpen).toBe(true); // a message after a quiet minute is not an ack timeout
  });

  it('gives up waiting for delivery after the timeout, on the clock, and the message stays queued', async () => {
    const alice = new Node(ALICE);
    const m = await alice.messenger.send(BOB, 'later');
    const wait = alice.messenger.waitDelivered(m.id, 5000);
    const outcome = wait.then(
      () => 'delivered',
      (err: { code?: string }) => err.code,
    );
    clock.advance(4999);
    await settle();
    clock.advance(1);
    expect(await outcome).toBe(ErrorCodes.NOT_DELIVERED);
    expect(alice.store.getOutgoing(m.id)?.state).toBe('queued');
  });
});
