/**
 * Benchmark support: the same message load through an MQTT broker
 * (Mosquitto), QoS 1 both ways: a publish counts as acknowledged at its
 * PUBACK, as delivered when the subscriber of the recipient's topic gets it.
 * The payload is the very text the relay's senders send (a put frame with
 * its envelope), so both carry the same bytes.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { CpuMeter } from './proc-stats.js';
import { envelopeOf } from './relay-client.js';
import { LoadRun, type Carrier, type LoadPlan, type LoadResult } from './relay-load.js';
import type { Measured } from './relay-messages.js';

/** Offset of the message id in the payload: after {"type":"put","id":" (20 characters). */
const ID_OFFSET = 20;
const ID_CHARS = 32;
/** Connections opened at once while setting up. */
const CONNECT_CONCURRENCY = 32;

async function connectMany(url: string, n: number, tag: string): Promise<MqttClient[]> {
  const out: MqttClient[] = new Array(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const k = next++;
      out[k] = await connectAsync(url, { clientId: `${tag}-${k}`, clean: true, reconnectPeriod: 0, protocolVersion: 4, rejectUnauthorized: false });
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, n) }, worker));
  return out;
}

class MqttCarrier implements Carrier {
  private readonly suffix: string[];

  constructor(
    private readonly load: LoadRun,
    private readonly publishers: MqttClient[],
    private readonly topics: string[],
  ) {
    const body = JSON.stringify(envelopeOf());
    // A recipient id of the relay's length (26 characters), so the payload is as long as a put frame.
    this.suffix = topics.map((_, r) => `","to":"${String(r).padStart(26, 'a')}","body":${body}}`);
  }

  send(s: number, r: number, id: string): void {
    this.publishers[s]!.publish(this.topics[r]!, `{"type":"put","id":"${id}${this.suffix[r]}`, { qos: 1 }, (err) => {
      if (err) this.load.fail(`publish failed: ${err.message}`);
      else this.load.acked(this.load.indexOf(id));
    });
  }
}

/** Runs `plan` (live) and each paced rate through the broker at `url`; `brokerPid` for its CPU, if known. */
export async function mqttMessages(url: string, plan: LoadPlan, pacedRates: number[], brokerPid: number | null, log: (s: string) => void): Promise<{ live: Measured<LoadResult>; paced: Measured<LoadResult>[] }> {
  const tag = `pigeon-bench-${process.pid}-${Date.now()}`;
  const topics = Array.from({ length: plan.recipients }, (_, r) => `${tag}/${r}`);
  const subscribers = await connectMany(url, plan.recipients, `${tag}-sub`);
  await Promise.all(subscribers.map((c, r) => c.subscribeAsync(topics[r]!, { qos: 1 })));
  const publishers = await connectMany(url, plan.senders, `${tag}-pub`);
  const pids: Record<string, number> = { loadGenerator: process.pid, ...(brokerPid ? { broker: brokerPid } : {}) };

  const once = async (p: LoadPlan): Promise<Measured<LoadResult>> => {
    const run = new LoadRun(p);
    const onMessage = (_topic: string, payload: Buffer): void => run.delivered(run.indexOf(payload.toString('latin1', ID_OFFSET, ID_OFFSET + ID_CHARS)));
    for (const c of subscribers) c.on('message', onMessage);
    const meter = new CpuMeter(pids);
    try {
      return { result: await run.run(new MqttCarrier(run, publishers, topics)), cores: meter.cores() };
    } finally {
      for (const c of subscribers) c.off('message', onMessage);
    }
  };

  log(`mqtt ${url}: ${plan.messages} messages at up to ${plan.senders * plan.ratePerSender}/s…`);
  const live = await once(plan);
  const paced: Measured<LoadResult>[] = [];
  for (const rate of pacedRates) {
    log(`mqtt ${url}: paced at ${rate}/s…`);
    paced.push(await once({ ...plan, messages: Math.min(plan.messages, rate * 5), window: 64, ratePerSender: rate / plan.senders }));
  }
  await Promise.all([...publishers, ...subscribers].map((c) => c.endAsync()));
  return { live, paced };
}
