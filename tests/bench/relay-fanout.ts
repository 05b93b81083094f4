/**
 * Benchmark support: group fan-out. One group of N members on a real relay,
 * every member connected; one member writes M group messages at a steady
 * rate; each message is stored once and pushed to the N-1 others. Latency is
 * from the sender's group-put to each member's group-deliver (all clients in
 * this process, one clock), reported as percentiles over every (message,
 * member) pair. The reference is the same fan-out through an MQTT broker:
 * N-1 subscribers of one topic, QoS 1, a payload of the same size, in the
 * same run.
 */
import { randomBytes } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { CpuMeter } from './proc-stats.js';
import { GROUP_CHAIN_START } from '../../shared/protocol/relay-frames.js';
import { signedGroupChange } from '../support/relay-device.js';
import { makeDevice, type BenchClient } from './relay-client.js';
import { percentile } from './relay-load.js';
import { connectAll } from './relay-messages.js';

/** A member that has not got every message this long after the last was sent makes the run fail. */
const DRAIN_MS = 30_000;
/** MQTT connections opened at once while setting up. */
const CONNECT_CONCURRENCY = 32;

export interface FanoutPlan {
  members: number;
  messages: number;
  /** Group messages per second from the one sender. */
  rate: number;
}

export interface FanoutRun {
  /** Deliveries expected ((members-1) × messages) and received. */
  expected: number;
  received: number;
  /** Put (or publish) to delivery, ms, over every (message, member) pair. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Put to the relay's group-put-ack (stored on disk), ms; publish to PUBACK for MQTT. */
  ackMs: { p50: number; p99: number };
  deliveriesPerSecond: number;
  cores: Record<string, number>;
}

export interface FanoutFigures {
  plan: FanoutPlan;
  relay: FanoutRun;
  mqtt?: FanoutRun | { error: string };
}

const round = (x: number): number => Math.round(x * 100) / 100;

/** A group message body of the real shape: 16-hex key id, 12-byte nonce, ~200 characters of ciphertext, P-256 signature. */
function groupBody(): string {
  return JSON.stringify({ kid: randomBytes(8).toString('hex'), nonce: randomBytes(12).toString('base64'), ct: randomBytes(225).toString('base64'), sig: randomBytes(64).toString('base64') });
}

/** Collects send and delivery times and turns them into a FanoutRun. */
class Timings {
  readonly sentAt = new Map<string, number>();
  readonly ackAt: number[] = [];
  readonly latencies: number[] = [];
  private done!: () => void;
  readonly finished = new Promise<void>((r) => (this.done = r));

  constructor(readonly expected: number) {}

  delivered(id: string): void {
    const t = this.sentAt.get(id);
    if (t === undefined) return;
    this.latencies.push(performance.now() - t);
    if (this.latencies.length === this.expected) this.done();
  }

  acked(id: string): void {
    const t = this.sentAt.get(id);
    if (t !== undefined) this.ackAt.push(performance.now() - t);
  }

  result(wallMs: number, cores: Record<string, number>): FanoutRun {
    const l = Float64Array.from(this.latencies).sort();
    const a = Float64Array.from(this.ackAt).sort();
    return {
      expected: this.expected,
      received: l.length,
      latencyMs: { p50: round(percentile(l, 50)), p90: round(percentile(l, 90)), p99: round(percentile(l, 99)), max: round(l[l.length - 1] ?? NaN) },
      ackMs: { p50: round(percentile(a, 50)), p99: round(percentile(a, 99)) },
      deliveriesPerSecond: Math.round(l.length / (wallMs / 1000)),
      cores,
    };
  }
}

/** Sends `send(i, id)` for i < messages at `rate` per second, then waits for every delivery (or DRAIN_MS). */
async function paced(plan: FanoutPlan, t: Timings, send: (id: string) => void): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < plan.messages; i++) {
    const due = start + (i * 1000) / plan.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = randomBytes(16).toString('hex');
    t.sentAt.set(id, performance.now());
    send(id);
  }
  await Promise.race([t.finished, new Promise((r) => setTimeout(r, DRAIN_MS))]);
  return performance.now() - start;
}

async function relayRun(url: string, relayPid: number, plan: FanoutPlan, log: (s: string) => void): Promise<FanoutRun> {
  log(`fan-out: ${plan.members} members connecting…`);
  const clients: BenchClient[] = await connectAll(url, Array.from({ length: plan.members }, () => makeDevice()));
  try {
    const [sender, ...others] = clients as [BenchClient, ...BenchClient[]];
    const gid = randomBytes(16).toString('hex');
    const joined = new Promise<void>((resolve, reject) => {
      let told = 0;
      for (const c of others) {
        c.onFrame = (type) => {
          if (type === 'group' && ++told === others.length) resolve();
        };
      }
      sender.onFrame = (type, data) => {
        if (type === 'error') reject(new Error(`group-create refused: ${data.toString()}`));
      };
    });
    const members = [sender.device.id, ...others.map((c) => c.device.id)];
    const { change } = signedGroupChange(sender.device, { gid, rev: 1, prev: GROUP_CHAIN_START, by: sender.device.id, ts: Date.now(), op: 'create', name: 'Fan-out', members });
    sender.send(JSON.stringify({ type: 'group-change', ref: 'bench', change }));
    await joined;
    log(`fan-out: group of ${plan.members} made; ${plan.messages} messages at ${plan.rate}/s…`);

    const t = new Timings(plan.messages * others.length);
    // The id follows "gid":"<32 hex>","seq":<n>,"id":" in a group-deliver: found by its key, not parsed.
    const idOf = (data: Buffer): string => {
      const at = data.indexOf('"id":"');
      return data.toString('latin1', at + 6, at + 38);
    };
    for (const c of others) c.onFrame = (type, data) => type === 'group-deliver' && t.delivered(idOf(data));
    sender.onFrame = (type, data) => type === 'group-put-ack' && t.acked(idOf(data));
    const body = groupBody();
    const meter = new CpuMeter({ relay: relayPid, loadGenerator: process.pid });
    const wall = await paced(plan, t, (id) => sender.send(`{"type":"group-put","gid":"${gid}","id":"${id}","body":${body}}`));
    return t.result(wall, meter.cores());
  } finally {
    for (const c of clients) c.ws.terminate();
  }
}

async function mqttRun(url: string, brokerPid: number | null, plan: FanoutPlan): Promise<FanoutRun> {
  const tag = `pigeon-fanout-${process.pid}-${Date.now()}`;
  const topic = `${tag}/group`;
  const subscribers: MqttClient[] = new Array(plan.members - 1);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < subscribers.length) {
      const k = next++;
      subscribers[k] = await connectAsync(url, { clientId: `${tag}-${k}`, clean: true, reconnectPeriod: 0, protocolVersion: 4 });
      await subscribers[k].subscribeAsync(topic, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  const publisher = await connectAsync(url, { clientId: `${tag}-pub`, clean: true, reconnectPeriod: 0, protocolVersion: 4 });
  try {
    const t = new Timings(plan.messages * subscribers.length);
    for (const s of subscribers) s.on('message', (_topic, payload: Buffer) => t.delivered(payload.toString('latin1', 0, 32)));
    const body = groupBody();
    const meter = new CpuMeter({ loadGenerator: process.pid, ...(brokerPid ? { broker: brokerPid } : {}) });
    // The payload: the id, then the same body as the relay carries.
    const wall = await paced(plan, t, (id) => publisher.publish(topic, `${id}${body}`, { qos: 1 }, () => t.acked(id)));
    return t.result(wall, meter.cores());
  } finally {
    await Promise.all([publisher, ...subscribers].map((c) => c.endAsync()));
  }
}

export async function fanoutFigures(url: string, relayPid: number, mqttUrl: string, brokerPid: number | null, plan: FanoutPlan, log: (s: string) => void): Promise<FanoutFigures> {
  const relay = await relayRun(url, relayPid, plan, log);
  log(`fan-out relay: p99 ${relay.latencyMs.p99} ms, ${relay.received}/${relay.expected} delivered; now through MQTT…`);
  let mqtt: FanoutFigures['mqtt'];
  try {
    mqtt = await mqttRun(mqttUrl, brokerPid, plan);
  } catch (err) {
    mqtt = { error: (err as Error).message };
  }
  return { plan, relay, mqtt };
}
