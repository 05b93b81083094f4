/**
 * Benchmark support: how many authenticated control connections one relay
 * process holds, and what they cost. Every connection is a device of its
 * own (P-256 key, made beforehand), authenticated with a signed challenge;
 * the relay's memory is read at each step. Connections are opened a few at
 * a time, so that none waits long enough to hit the relay's auth timeout.
 */
import { CpuMeter, memory, openFds, type Memory } from './proc-stats.js';
import { BenchClient, makeDevice, type BenchDevice } from './relay-client.js';

/** Connections being opened at once: the relay answers each auth in turn; 16 keep it busy without a long queue. */
const CONCURRENCY = 16;
/** Pause before reading memory at a step: presence sent to the others and directory pages drain first. */
const SETTLE_MS = 3000;
/** How often (in connections) the relay's memory is checked against the cap. */
const CHECK_EVERY = 50;

export interface ConnectionStep extends Memory {
  connections: number;
  /** Connections per second while this step's connections were opened. */
  connectsPerSecond: number;
  seconds: number;
  relayCores: number;
  loadGeneratorCores: number;
  relayFds: number;
  loadGeneratorRssMB: number;
}

export interface ConnectionFigures {
  keySeconds: number;
  idle: Memory;
  steps: ConnectionStep[];
  reached: number;
  /** Why the run stopped before the last step, or null. */
  stopped: string | null;
  /** Connections the relay closed while the test ran (should be 0), and why: "code reason" → count. */
  closedByRelay: number;
  closeReasons: Record<string, number>;
}

/**
 * Opens connections up to each of `steps`; stops early if one fails or the
 * relay's RSS passes `maxRelayMB` (the machine is shared: a relay that
 * grows without bound must not take it down).
 */
export async function connectionFigures(url: string, relayPid: number, steps: number[], maxRelayMB: number, log: (s: string) => void): Promise<{ figures: ConnectionFigures; clients: BenchClient[] }> {
  const max = Math.max(...steps);
  log(`connections: making ${max} device keys…`);
  const tk = performance.now();
  const devices: BenchDevice[] = Array.from({ length: max }, () => makeDevice());
  const keySeconds = Math.round((performance.now() - tk) / 100) / 10;
  const figures: ConnectionFigures = { keySeconds, idle: memory(relayPid), steps: [], reached: 0, stopped: null, closedByRelay: 0, closeReasons: {} };
  const clients: BenchClient[] = [];
  let next = 0;
  for (const target of steps) {
    const meter = new CpuMeter({ relay: relayPid, loadGenerator: process.pid });
    const t = performance.now();
    const from = next;
    const worker = async (): Promise<void> => {
      while (next < target && figures.stopped === null) {
        const k = next++;
        if (k % CHECK_EVERY === 0 && memory(relayPid).rssMB > maxRelayMB) {
          figures.stopped ??= `the relay's RSS passed the bench's safety cap of ${maxRelayMB} MB at ${clients.length} connections`;
          break;
        }
        try {
          const { client } = await BenchClient.connect(url, devices[k]!, `Bench ${k}`);
          clients.push(client);
          void client.closed.then(({ code, reason }) => {
            figures.closedByRelay++;
            const why = `${code} ${reason}`;
            figures.closeReasons[why] = (figures.closeReasons[why] ?? 0) + 1;
          });
        } catch (err) {
          figures.stopped ??= `connection ${k + 1}: ${(err as Error).message}`;
        }
      }
    };
    let lastLog = performance.now();
    const progress = setInterval(() => {
      const now = performance.now();
      if (now - lastLog > 30_000) {
        log(`  ${clients.length} connected, ${Math.round((clients.length - from) / ((now - t) / 1000))}/s, relay ${memory(relayPid).rssMB} MB`);
        lastLog = now;
      }
    }, 1000);
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    clearInterval(progress);
    const seconds = (performance.now() - t) / 1000;
    const cores = meter.cores();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    figures.reached = clients.length;
    figures.steps.push({
      connections: clients.length,
      connectsPerSecond: Math.round((clients.length - from) / seconds),
      seconds: Math.round(seconds * 10) / 10,
      relayCores: cores.relay ?? 0,
      loadGeneratorCores: cores.loadGenerator ?? 0,
      relayFds: openFds(relayPid),
      ...memory(relayPid),
      loadGeneratorRssMB: Math.round(process.memoryUsage().rss / 1e5) / 10,
    });
    log(`  ${clients.length} connections: relay RSS ${memory(relayPid).rssMB} MB, ${figures.steps.at(-1)!.connectsPerSecond} connects/s`);
    if (figures.stopped !== null) break;
  }
  return { figures, clients };
}
