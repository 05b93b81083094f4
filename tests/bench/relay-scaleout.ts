/**
 * Benchmark support: the relay's figures for scale-out (issue 17 item 7),
 * two `pigeon relay` instances on one PostgreSQL schema and one NATS subject
 * prefix (fresh names per run, dropped afterwards), sharing one certificate
 * as an administrator deploys them. Each figure is reported per instance:
 *
 *  - connections: held by each fresh instance in turn, with memory per
 *    connection and connects per second at each step;
 *  - messages: the senders connect to instance A and the recipients to
 *    instance B, so every put is stored in PostgreSQL by A and delivered by
 *    B over the bus; CPU per instance, of the generator, and of PostgreSQL's
 *    and NATS's processes;
 *  - pipes: the receiver on A, the sender on B (WebSocket pipes: scale-out
 *    has no raw pipes), CPU per GB of each instance and of NATS.
 *
 * When PostgreSQL or NATS does not answer, the section records why and
 * measures nothing.
 */
import { join } from 'node:path';
import { loadOrCreateSelfSigned } from '../../relay/server/tls-cert.js';
import { dropSchema, freshPrefix, freshSchema, NATS_URL, PG_URL, scaleOutUnavailable } from '../support/scaleout-services.js';
import { memory, pidsNamed, type Memory } from './proc-stats.js';
import { connectionFigures, type ConnectionFigures } from './relay-connections.js';
import type { LoadPlan } from './relay-load.js';
import { relayMessages, type MessageFigures } from './relay-messages.js';
import { pipeFigures, type PipeFigures } from './relay-pipe.js';

/** A relay process started by the bench (relay.ts). */
export interface StartedRelay {
  pid: number;
  url: string;
  warnings: Record<string, number>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

export interface ScaleOutPlan {
  messages: LoadPlan;
  paced: number[];
  /** Connection steps held by each instance in turn. */
  connections: number[];
  maxRelayMB: number;
  pipeBytes: number;
  pipeRounds: number;
}

export type ScaleOutFigures =
  | { unavailable: string }
  | {
      store: string;
      bus: string;
      /** Senders on A, recipients on B. */
      messages: MessageFigures & { plan: LoadPlan; memory: Record<string, Memory> };
      /** Each instance holding connections in turn. */
      connections: Record<string, ConnectionFigures>;
      /** Receiver on A, sender on B. */
      pipe: PipeFigures;
      relayWarnings: Record<string, Record<string, number>>;
    };

const INSTANCES = ['instance A', 'instance B'] as const;

/** The services' processes, measured beside the instances (their CPU is part of what a message costs). */
function services(): Record<string, number[]> {
  return { PostgreSQL: pidsNamed('postgres'), NATS: pidsNamed('nats-server') };
}

export async function scaleOutFigures(
  dataRoot: string,
  start: (name: string, extra: string[]) => Promise<StartedRelay>,
  plan: ScaleOutPlan,
  log: (s: string) => void,
): Promise<ScaleOutFigures> {
  const unavailable = await scaleOutUnavailable();
  if (unavailable) {
    log(`scale-out: not measured: ${unavailable}`);
    return { unavailable };
  }
  const schema = freshSchema();
  const certDir = join(dataRoot, 'scaleout-cert');
  await loadOrCreateSelfSigned(certDir);
  const shared = ['--store', PG_URL, '--store-schema', schema, '--bus', NATS_URL, '--bus-prefix', freshPrefix(), '--cert', join(certDir, 'relay-cert.pem'), '--key', join(certDir, 'relay-key.pem')];
  const relays: StartedRelay[] = [];
  try {
    for (const name of INSTANCES) relays.push(await start(`scaleout-${name.slice(-1)}`, shared));
    const [a, b] = relays as [StartedRelay, StartedRelay];
    const pids = { [INSTANCES[0]]: a.pid, [INSTANCES[1]]: b.pid };

    // Connections first, while each instance is fresh: memory per connection is read above its idle RSS.
    const connections: Record<string, ConnectionFigures> = {};
    for (const [k, r] of relays.entries()) {
      log(`scale-out: connections held by ${INSTANCES[k]}…`);
      const { figures, clients } = await connectionFigures(r.url, r.pid, plan.connections, plan.maxRelayMB, log);
      // A copy: closing the clients below would count as closes by the relay in the live object.
      connections[INSTANCES[k]!] = { ...figures, closeReasons: { ...figures.closeReasons } };
      for (const c of clients) c.ws.terminate();
    }

    log(`scale-out: messages, senders on ${INSTANCES[0]}, recipients on ${INSTANCES[1]}…`);
    const m = await relayMessages({ sendersUrl: a.url, recipientsUrl: b.url, relays: pids, services: services() }, plan.messages, plan.paced, log);
    const messages = { ...m, plan: plan.messages, memory: { [INSTANCES[0]]: memory(a.pid), [INSTANCES[1]]: memory(b.pid) } };

    log('scale-out: pipes, receiver on instance A, sender on instance B…');
    const pipe = await pipeFigures(plan.pipeBytes, { recvUrl: a.url, sendUrl: b.url, measured: { ...pids, NATS: pidsNamed('nats-server') } }, certDir, plan.pipeRounds, log, { raw: false });
    return {
      store: `PostgreSQL ${PG_URL}, schema ${schema} (dropped afterwards)`,
      bus: NATS_URL,
      messages,
      connections,
      pipe,
      relayWarnings: { [INSTANCES[0]]: a.warnings, [INSTANCES[1]]: b.warnings },
    };
  } finally {
    await Promise.all(relays.map((r) => r.kill9()));
    await dropSchema(schema).catch((err: unknown) => log(`scale-out: could not drop schema ${schema}: ${(err as Error).message}`));
  }
}
