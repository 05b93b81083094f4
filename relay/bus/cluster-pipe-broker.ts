/**
 * Pipes across relay instances (spec §12.11.3): a PipeBroker whose keys are
 * good on every instance. The instance whose client asked for a pipe owns
 * its key and subscribes to <p>.pipe.<key>.own. A pipe socket that arrives
 * elsewhere asks the owner there (nobody answers: unknown or used key,
 * 4004). The owner pairs the first two sockets: both on one instance are
 * spliced there; on two instances, each one splices its socket with a
 * RemoteSide (remote-side.ts), a stand-in WebSocket whose messages travel
 * over NATS to the other instance (pipe-wire.ts).
 *
 * Keys are made by PipeBroker.create and taken over at once (so their
 * per-device limit and expiry are kept here); a pair is spliced by
 * PipeBroker under a one-off key.
 */
import { randomBytes } from 'node:crypto';
import { RequestError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { RawData, WebSocket } from 'ws';
import { CloseCodes } from '../close-codes.js';
import type { RelayLogger } from '../log.js';
import { MAX_PENDING_PIPES_PER_DEVICE, PIPE_PENDING_MS, PipeBroker, type PipeOptions } from '../pipes/pipe-broker.js';
import { encodeBusJson, type Unversioned } from './bus-messages.js';
import type { BusRefusals } from './bus-refusals.js';
import { controlBytes, decodeOwnerMessage, decodeSideMessage, PIPE_KEY, PIPE_OVERFLOW, PIPE_WINDOW, type OwnerMessage, type PipeControl } from './pipe-wire.js';
import { RemoteSide } from './remote-side.js';

/** Wait before asking a key's owner once more when nobody answered: the owner's subscription may still be on its way through NATS. */
const OWNER_RETRY_MS = 250;

/** What the pipe broker needs of the bus. */
export interface PipeNet {
  nc: NatsConnection;
  publish(subject: string, data: Uint8Array): void;
  instance: string;
  subject(...parts: string[]): string;
  requestTimeoutMs: number;
  refusals: BusRefusals;
}

/** A pipe socket that arrived at this instance, until it is spliced. */
interface LocalSide {
  id: string;
  key: string;
  ws: WebSocket;
  remote: string;
  /** Messages the client sent before the other side came (its TLS hello), replayed into the splice. */
  early: { data: RawData; isBinary: boolean }[];
  earlyBytes: number;
  collect: (data: RawData, isBinary: boolean) => void;
  /** This side's subject (bytes from the other instance), once it waits elsewhere's answer or is bridged. */
  sub?: Subscription;
  /** Messages on that subject before the bridge was made (another instance may be quicker than our own "go"). */
  beforeBridge: Uint8Array[];
  timer?: NodeJS.Timeout;
  bridge?: RemoteSide;
}

type SideRef = { at: 'local'; side: LocalSide } | { at: 'remote'; inst: string; side: string };

/** A key this instance owns: who asked for it, and the first socket that came with it. */
interface Owned {
  opener: string;
  target: string;
  timer: NodeJS.Timeout;
  sub: Subscription;
  first: SideRef | null;
}

export class ClusterPipeBroker extends PipeBroker {
  private readonly owned = new Map<string, Owned>();
  /** Local sides waiting for their pair, by side id. */
  private readonly waiting = new Map<string, LocalSide>();
  private readonly bridged = new Set<LocalSide>();
  private readonly keyMs: number;

  constructor(
    opts: PipeOptions,
    private readonly log: RelayLogger,
    private readonly net: PipeNet,
  ) {
    super(opts, log);
    this.keyMs = opts.pendingMs ?? PIPE_PENDING_MS;
  }

  override create(opener: string, target: string): string | null {
    let mine = 0;
    for (const o of this.owned.values()) if (o.opener === opener) mine++;
    if (mine >= MAX_PENDING_PIPES_PER_DEVICE) return null;
    const key = super.create(opener, target);
    if (key === null) return null;
    super.cancel(key);
    const sub = this.net.nc.subscribe(this.net.subject('pipe', key, 'own'), { callback: (err, msg) => this.guard(err, () => this.onOwnerMsg(key, msg)) });
    const timer = setTimeout(() => this.expireOwned(key), this.keyMs);
    this.owned.set(key, { opener, target, timer, sub, first: null });
    return key;
  }

  override cancel(key: string): void {
    if (this.owned.has(key)) this.dropOwned(key);
    else super.cancel(key);
  }

  override join(ws: WebSocket, key: string | null, remote: string): void {
    if (key === null || !PIPE_KEY.test(key)) return super.join(ws, key, remote); // refused there, with the log line
    const side: LocalSide = { id: randomBytes(8).toString('hex'), key, ws, remote, early: [], earlyBytes: 0, beforeBridge: [], collect: () => {} };
    side.collect = (data, isBinary) => {
      side.early.push({ data, isBinary });
      side.earlyBytes += Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
      if (side.earlyBytes > PIPE_WINDOW) {
        this.log.log('warn', 'pipe refused', { remote, reason: 'too many bytes before the other side came' });
        this.closeSide(side, CloseCodes.PIPE_REFUSED, 'too many bytes before the other side came');
      }
    };
    ws.on('message', side.collect);
    const o = this.owned.get(key);
    if (o) {
      this.arrive(key, o, { at: 'local', side });
      return;
    }
    void this.askOwner(side);
  }

  override stats(): { pipes: number; pending: number; bytesPiped: number } {
    const s = super.stats();
    return { ...s, pending: s.pending + this.owned.size };
  }

  override closeAll(): void {
    for (const [key, o] of [...this.owned]) {
      this.dropOwned(key);
      if (o.first?.at === 'local') o.first.side.ws.close(CloseCodes.GOING_AWAY, 'relay stopping');
      else if (o.first) this.control(key, o.first.side, { t: 'refused', reason: 'relay stopping' });
    }
    for (const side of [...this.waiting.values()]) this.closeSide(side, CloseCodes.GOING_AWAY, 'relay stopping');
    super.closeAll();
  }

  /** Pipes bridged to an instance that stopped or died are closed now rather than at their idle timeout. */
  instanceGone(inst: string, reason: string): void {
    for (const side of [...this.bridged]) {
      if (side.bridge?.peerInst !== inst) continue;
      this.log.log('info', 'pipe closed: the other side was on a relay instance that is gone', { instance: inst, reason });
      side.bridge.lost(reason);
    }
  }

  private guard(err: Error | null, f: () => void): void {
    if (err) return this.log.log('warn', 'bus subscription error', { reason: err.message });
    try {
      f();
    } catch (e) {
      this.log.log('warn', 'bad pipe message on the bus', { reason: (e as Error).message });
    }
  }

  private dropOwned(key: string): void {
    const o = this.owned.get(key);
    if (!o) return;
    clearTimeout(o.timer);
    o.sub.unsubscribe();
    this.owned.delete(key);
  }

  private expireOwned(key: string): void {
    const o = this.owned.get(key);
    if (!o) return;
    this.dropOwned(key);
    this.log.log('info', 'pipe key expired', { opener: o.opener, target: o.target, waiting: o.first ? 1 : 0 });
    if (o.first?.at === 'local') this.closeSide(o.first.side, CloseCodes.PIPE_REFUSED, 'pipe key expired');
    else if (o.first) this.control(key, o.first.side, { t: 'refused', reason: 'pipe key expired' });
  }

  private control(key: string, side: string, c: Unversioned<PipeControl>): void {
    this.net.publish(this.net.subject('pipe', key, side), controlBytes(c));
  }

  private onOwnerMsg(key: string, msg: Msg): void {
    const o = this.owned.get(key);
    if (!o) return;
    const d = decodeOwnerMessage(msg.data);
    if (!d.ok) return this.net.refusals.refuse('pipe owner', d.refusal); // no answer: the asking instance refuses its socket as for an unknown key
    const m = d.msg;
    if (m.t === 'join') {
      const answer = this.arrive(key, o, { at: 'remote', inst: m.inst, side: m.side });
      if (msg.reply) msg.respond(controlBytes(answer ?? { t: 'wait' }));
    } else if (m.t === 'leave' && o.first?.at === 'remote' && o.first.side === m.side) {
      this.dropOwned(key);
      this.log.log('info', 'pipe abandoned before the other side came', { opener: o.opener, target: o.target });
    }
  }

  /** A socket for an owned key (here or on another instance); returns the answer for a remote one. */
  private arrive(key: string, o: Owned, ref: SideRef): Unversioned<PipeControl> | undefined {
    if (!o.first) {
      o.first = ref;
      if (ref.at === 'local') {
        ref.side.ws.once('close', () => {
          if (this.owned.get(key)?.first !== ref) return;
          this.dropOwned(key);
          this.log.log('info', 'pipe abandoned before the other side came', { opener: o.opener, target: o.target });
        });
      }
      return { t: 'wait' };
    }
    const first = o.first;
    this.dropOwned(key); // used: a third socket finds nobody to ask
    const names = { opener: o.opener, target: o.target };
    if (first.at === 'local' && ref.at === 'local') {
      this.spliceHere(names, first.side, ref.side);
      return undefined;
    }
    if (first.at === 'remote' && ref.at === 'remote') {
      if (first.inst === ref.inst) return { t: 'pair', side: first.side, ...names };
      this.control(key, first.side, { t: 'go', inst: ref.inst, side: ref.side, ...names });
      return { t: 'go', inst: first.inst, side: first.side, ...names };
    }
    const [here, there] = first.at === 'local' ? [first.side, ref as Extract<SideRef, { at: 'remote' }>] : [(ref as Extract<SideRef, { at: 'local' }>).side, first];
    this.bridge(here, there.inst, there.side, names);
    const go: Unversioned<PipeControl> = { t: 'go', inst: this.net.instance, side: here.id, ...names };
    if (there === first) {
      this.control(key, there.side, go);
      return undefined;
    }
    return go;
  }

  /** A socket whose key this instance does not own: asks the owner, wherever it is. */
  private async askOwner(side: LocalSide): Promise<void> {
    this.waiting.set(side.id, side);
    side.timer = setTimeout(() => this.closeSide(side, CloseCodes.PIPE_REFUSED, 'pipe key expired'), this.keyMs);
    side.sub = this.net.nc.subscribe(this.net.subject('pipe', side.key, side.id), { callback: (err, msg) => this.guard(err, () => this.onSideMsg(side, msg.data)) });
    side.ws.once('close', () => {
      if (this.waiting.get(side.id) !== side) return;
      this.forget(side);
      this.net.publish(this.net.subject('pipe', side.key, 'own'), encodeBusJson<OwnerMessage>({ t: 'leave', side: side.id }));
    });
    const ask = encodeBusJson<OwnerMessage>({ t: 'join', inst: this.net.instance, side: side.id });
    let answer: Msg | null = null;
    for (let attempt = 0; attempt < 2 && answer === null; attempt++) {
      try {
        answer = await this.net.nc.request(this.net.subject('pipe', side.key, 'own'), ask, { timeout: this.net.requestTimeoutMs });
      } catch (err) {
        if (!(err instanceof RequestError && err.isNoResponders()) || attempt > 0) break;
        await new Promise((r) => setTimeout(r, OWNER_RETRY_MS));
      }
    }
    if (this.waiting.get(side.id) !== side) return;
    if (answer === null) {
      this.log.log('warn', 'pipe refused', { remote: side.remote, reason: 'unknown, expired or already used key' });
      this.closeSide(side, CloseCodes.PIPE_REFUSED, 'unknown pipe key');
      return;
    }
    this.onSideMsg(side, answer.data);
  }

  private onSideMsg(side: LocalSide, d: Uint8Array): void {
    if (side.bridge) return side.bridge.receive(d);
    const m = decodeSideMessage(d);
    if (m.t === 'refused') {
      this.net.refusals.refuse('pipe side', m.refusal);
      return this.closeSide(side, CloseCodes.INTERNAL, 'bad message from another relay instance');
    }
    if (m.t === 'data' || m.c.t === 'credit' || m.c.t === 'end') {
      // For the bridge about to be made: bounded by the other instance's window.
      if (side.beforeBridge.length < PIPE_OVERFLOW / 1024) side.beforeBridge.push(d);
      return;
    }
    if (this.waiting.get(side.id) !== side) return;
    const c = m.c;
    switch (c.t) {
      case 'go':
        return this.bridge(side, c.inst, c.side, c);
      case 'pair': {
        const other = this.waiting.get(c.side);
        if (!other) return this.closeSide(side, CloseCodes.PIPE_REFUSED, 'the other side left');
        return this.spliceHere(c, other, side);
      }
      case 'refused':
        this.log.log('info', 'pipe refused', { remote: side.remote, reason: c.reason });
        return this.closeSide(side, CloseCodes.PIPE_REFUSED, c.reason);
      default:
        return; // 'wait'
    }
  }

  /** Stops treating a side as waiting (its subject stays if it is bridged). */
  private forget(side: LocalSide): void {
    clearTimeout(side.timer);
    side.ws.off('message', side.collect);
    if (this.waiting.get(side.id) === side) this.waiting.delete(side.id);
    if (!side.bridge) side.sub?.unsubscribe();
  }

  private closeSide(side: LocalSide, code: number, reason: string): void {
    this.forget(side);
    side.ws.close(code, reason);
  }

  /** Hands a socket to PipeBroker and replays what its client sent while it waited. */
  private enter(ws: WebSocket, key: string, remote: string, early: LocalSide['early'] = []): void {
    super.join(ws, key, remote);
    for (const e of early) ws.emit('message', e.data, e.isBinary);
  }

  /** Both sockets are on this instance: the ordinary splice. */
  private spliceHere(names: { opener: string; target: string }, a: LocalSide, b: LocalSide): void {
    this.forget(a);
    this.forget(b);
    const key = super.create(names.opener, names.target);
    if (key === null) {
      for (const s of [a, b]) s.ws.close(CloseCodes.PIPE_REFUSED, 'too many pipes waiting');
      return;
    }
    this.enter(a.ws, key, a.remote, a.early);
    this.enter(b.ws, key, b.remote, b.early);
  }

  /** The other socket is on instance `inst`: splice ours with a RemoteSide standing for it. */
  private bridge(here: LocalSide, inst: string, side: string, names: { opener: string; target: string }): void {
    const remote = new RemoteSide(this.net, this.net.subject('pipe', here.key, side), inst, this.log);
    here.bridge = remote;
    here.sub ??= this.net.nc.subscribe(this.net.subject('pipe', here.key, here.id), { callback: (err, msg) => this.guard(err, () => this.onSideMsg(here, msg.data)) });
    this.forget(here);
    this.bridged.add(here);
    remote.once('close', () => {
      this.bridged.delete(here);
      here.sub?.unsubscribe();
    });
    this.log.log('info', 'pipe bridged to another relay instance', { ...names, instance: inst });
    const key = super.create(names.opener, names.target);
    if (key === null) {
      here.ws.close(CloseCodes.PIPE_REFUSED, 'too many pipes waiting');
      remote.close(CloseCodes.PIPE_REFUSED, 'too many pipes waiting');
      return;
    }
    this.enter(here.ws, key, here.remote, here.early);
    this.enter(remote as unknown as WebSocket, key, `relay instance ${inst}`);
    for (const d of here.beforeBridge.splice(0)) remote.receive(d);
  }
}
