/**
 * Benchmark support: stored-and-forwarded messages through a relay process.
 * Senders put sealed envelopes (the real Envelope shape, ~300 base64
 * characters of ciphertext) into the mailboxes of recipients that are
 * connected and live (they acknowledge by seq, cumulatively, as often as the
 * relay's message limit allows), or offline (they come back afterwards and
 * sync in pages of MAX_SYNC_PAGE).
 */
import { CLIENT_MESSAGE_RATE, envelopeMessage, MAX_SYNC_PAGE, type Envelope } from '../../shared/protocol/relay-frames.js';
import { signText } from '../support/relay-device.js';
import { CpuMeter, memory, type Memory } from './proc-stats.js';
import { BenchClient, envelopeOf, makeDevice, type BenchDevice } from './relay-client.js';
import { LoadRun, type Carrier, type LoadPlan, type LoadResult } from './relay-load.js';

/** A live recipient acknowledges at most this often: 20 acks per second, far below the relay's CLIENT_MESSAGE_RATE. */
const ACK_EVERY_MS = 50;
/** Connections opened at once while setting up. */
const CONNECT_CONCURRENCY = 32;
/** The few-senders run: as many senders as recipients, each sending at 90 % of the protocol's limit. */
const FEW_SENDERS_RATE = Math.floor(CLIENT_MESSAGE_RATE * 0.9);

export interface Measured<T> {
  result: T;
  /** Cores used during the run: the relay (or each instance), this load generator, and the services measured. */
  cores: Record<string, number>;
  /** The relay's memory after the run (the first instance's, in scale-out). */
  relayMemory?: Memory;
}

/**
 * Where a message load goes: one relay (both URLs the same), or two
 * instances of a scale-out relay, the senders on one and the recipients on
 * the other, so every message crosses the bus.
 */
export interface MessageTarget {
  sendersUrl: string;
  recipientsUrl: string;
  /** The relay processes, by name ("relay", or "instance A", "instance B"): their CPU is measured, the first one's memory read. */
  relays: Record<string, number>;
  /** Other processes whose CPU is measured beside them (PostgreSQL's, NATS). */
  services?: Record<string, number | number[]>;
}

export async function connectAll(url: string, devices: BenchDevice[], concurrency = CONNECT_CONCURRENCY): Promise<BenchClient[]> {
  const clients: BenchClient[] = new Array(devices.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < devices.length) {
      const k = next++;
      clients[k] = (await BenchClient.connect(url, devices[k]!, `Bench ${k}`)).client;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, devices.length) }, worker));
  return clients;
}

/** Sends sync pages until the relay says complete; resolves with the number of entries delivered. */
function syncAll(c: BenchClient, onDeliver: (id: string, seq: number) => void, ack: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    let count = 0;
    c.onFrame = (type, data) => {
      if (type === 'deliver') {
        const f = JSON.parse(data.toString('utf8')) as { id: string; seq: number };
        count++;
        onDeliver(f.id, f.seq);
      } else if (type === 'synced') {
        const f = JSON.parse(data.toString('utf8')) as { last: number; complete: boolean };
        if (ack && f.last > 0) c.send(JSON.stringify({ type: 'ack', seq: f.last }));
        if (f.complete) resolve(count);
        else c.send(JSON.stringify({ type: 'sync', after: f.last, limit: MAX_SYNC_PAGE }));
      } else if (type === 'error') reject(new Error(data.toString('utf8')));
    };
    c.send(JSON.stringify({ type: 'sync', after: 0, limit: MAX_SYNC_PAGE }));
  });
}

/** Waits until the relay has handled everything this client sent before (a ping answered). */
function roundTrip(c: BenchClient): Promise<void> {
  return new Promise((resolve) => {
    c.onFrame = (type) => type === 'pong' && resolve();
    c.send(JSON.stringify({ type: 'ping', n: 1 }));
  });
}

/** The relay end of a load: put frames built around a fixed envelope, put-acks and delivers read back. */
class RelayCarrier implements Carrier {
  private readonly envelope: Omit<Envelope, 'sig'>;
  private readonly suffix: string[];
  private readonly maxSeq: number[];
  private readonly ackedSeq: number[];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly load: LoadRun,
    private readonly senders: BenchClient[],
    private readonly recipients: { id: string; client: BenchClient | null }[],
  ) {
    const { sig: _random, ...unsigned } = envelopeOf();
    this.envelope = unsigned;
    this.suffix = recipients.map((r) => `","to":"${r.id}","body":${JSON.stringify(this.envelope).slice(0, -1)},"sig":"`);
    this.maxSeq = recipients.map(() => 0);
    this.ackedSeq = recipients.map(() => 0);
    for (const s of senders) {
      s.onFrame = (type, data) => {
        if (type === 'put-ack') load.acked(load.indexOf((JSON.parse(data.toString('utf8')) as { id: string }).id));
        else if (type === 'error') load.fail(`relay error: ${data.toString('utf8')}`);
      };
    }
    recipients.forEach((r, k) => {
      if (!r.client) return;
      r.client.onFrame = (type, data) => {
        if (type !== 'deliver') return;
        const f = JSON.parse(data.toString('utf8')) as { id: string; seq: number };
        this.maxSeq[k] = Math.max(this.maxSeq[k]!, f.seq);
        load.delivered(load.indexOf(f.id));
      };
      void r.client.closed.then(({ code, reason }) => load.fail(`a recipient was closed: ${code} ${reason}`));
    });
    this.timer = setInterval(() => this.ackAll(), ACK_EVERY_MS);
    for (const s of senders) void s.closed.then(({ code, reason }) => load.fail(`a sender was closed: ${code} ${reason}`));
  }

  /**
   * A put signed by its sender for this recipient and id, as a peer signs it:
   * the relay checks every envelope's signature (§12.4), so the generator
   * pays one P-256 signature per put and the relay one verification.
   */
  send(s: number, r: number, id: string): void {
    const sender = this.senders[s]!;
    const sig = signText(sender.device.key, envelopeMessage(sender.device.id, this.recipients[r]!.id, id, this.envelope));
    sender.send(`{"type":"put","id":"${id}${this.suffix[r]}${sig}"}}`);
  }

  /** Acknowledges what each live recipient received (cumulative, by seq). */
  ackAll(): void {
    this.recipients.forEach((r, k) => {
      if (r.client && this.maxSeq[k]! > this.ackedSeq[k]!) {
        this.ackedSeq[k] = this.maxSeq[k]!;
        r.client.send(JSON.stringify({ type: 'ack', seq: this.maxSeq[k] }));
      }
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.ackAll();
  }
}

export interface MessageFigures {
  setup: { senders: number; recipients: number; bodyChars: number; connectSeconds: number };
  live: Measured<LoadResult>;
  /** The same with as few senders as recipients, each near the per-connection limit. */
  fewSenders: Measured<LoadResult>;
  /** Latency at a fixed offered rate, below saturation. */
  paced: Measured<LoadResult>[];
  offline: Measured<LoadResult>;
  drain: Measured<{ messages: number; seconds: number; perSecond: number }>;
}

export async function relayMessages(target: MessageTarget, plan: LoadPlan, pacedRates: number[], log: (s: string) => void): Promise<MessageFigures> {
  const t = performance.now();
  const recipientDevices = Array.from({ length: plan.recipients }, () => makeDevice());
  const senderDevices = Array.from({ length: plan.senders }, () => makeDevice());
  let recipients = await connectAll(target.recipientsUrl, recipientDevices);
  for (const c of recipients) await syncAll(c, () => {}, false); // live from now on
  const senders = await connectAll(target.sendersUrl, senderDevices);
  const connectSeconds = Math.round((performance.now() - t) / 100) / 10;
  const pids = { ...target.relays, loadGenerator: process.pid, ...target.services };
  const relayPid = Object.values(target.relays)[0]!;

  const once = async (p: LoadPlan, online: boolean): Promise<Measured<LoadResult>> => {
    const run = new LoadRun(p);
    const carrier = new RelayCarrier(
      run,
      senders.slice(0, p.senders),
      recipientDevices.map((d, k) => ({ id: d.id, client: online ? recipients[k]! : null })),
    );
    const meter = new CpuMeter(pids);
    try {
      const result = await run.run(carrier);
      return { result, cores: meter.cores(), relayMemory: memory(relayPid) };
    } finally {
      carrier.stop();
    }
  };

  log(`relay, live recipients: ${plan.messages} messages at up to ${plan.senders * plan.ratePerSender}/s…`);
  const live = await once(plan, true);
  const few = Math.min(plan.recipients, plan.senders);
  log(`relay, live recipients, ${few} senders at up to ${FEW_SENDERS_RATE}/s each…`);
  const fewSenders = await once({ ...plan, senders: few, ratePerSender: FEW_SENDERS_RATE }, true);
  const paced: Measured<LoadResult>[] = [];
  for (const rate of pacedRates) {
    log(`relay, live recipients, paced at ${rate}/s…`);
    paced.push(await once({ ...plan, messages: Math.min(plan.messages, rate * 5), window: 64, ratePerSender: rate / plan.senders }, true));
  }

  // Offline: everything acknowledged so far is deleted, then the recipients leave.
  for (const c of recipients) await roundTrip(c);
  await Promise.all(recipients.map((c) => c.close()));
  log(`relay, offline recipients: ${plan.messages} messages…`);
  const offline = await once({ ...plan, live: false }, false);

  log('relay, offline recipients come back and sync…');
  const meter = new CpuMeter(pids);
  const t0 = performance.now();
  recipients = await connectAll(target.recipientsUrl, recipientDevices);
  const counts = await Promise.all(recipients.map((c) => syncAll(c, () => {}, true)));
  const seconds = (performance.now() - t0) / 1000;
  const drained = counts.reduce((a, b) => a + b, 0);
  if (drained !== plan.messages) throw new Error(`the recipients synced ${drained} entries, ${plan.messages} were stored`);
  const drain = { result: { messages: drained, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(drained / seconds) }, cores: meter.cores(), relayMemory: memory(relayPid) };

  for (const c of recipients) await roundTrip(c);
  await Promise.all([...recipients, ...senders].map((c) => c.close()));
  return { setup: { senders: plan.senders, recipients: plan.recipients, bodyChars: JSON.stringify(envelopeOf()).length, connectSeconds }, live, fewSenders, paced, offline, drain };
}
