/**
 * The relay's admin port (`--admin-port`): plain HTTP, bound to 127.0.0.1
 * unless told otherwise (`--admin-host`), for a local Prometheus agent or a
 * health check, never for clients.
 *
 *   GET /metrics  Prometheus text format 0.0.4: one `# HELP` and `# TYPE`
 *                 line per metric, then its sample (docs/relay-admin.md
 *                 lists them).
 *   GET /healthz  200 "ok" while the relay accepts clients, 503 otherwise.
 *
 * Anything else is 404. Nothing here reads a client's data: counts only.
 */
import { createServer, type Server } from 'node:http';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** One metric: name, help text, type, and its value now. */
export interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  value: number;
}

/** Resolution of the event-loop delay histogram: 10 ms buckets would hide the lag a reconnect storm causes; 1 ms does not cost anything. */
const LOOP_RESOLUTION_MS = 1;

/** Renders metrics in the Prometheus text format. */
export function prometheusText(metrics: readonly Metric[]): string {
  return metrics.map((m) => `# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n${m.name} ${Number.isFinite(m.value) ? m.value : 0}\n`).join('');
}

export class AdminServer {
  private server: Server | null = null;
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

  constructor(
    private readonly metrics: () => Promise<Metric[]>,
    private readonly healthy: () => boolean,
  ) {}

  /** The event loop's delay since the last scrape: p99 and max, in seconds. */
  private loopMetrics(): Metric[] {
    const p99 = this.loop.percentile(99) / 1e9;
    const max = this.loop.max / 1e9;
    this.loop.reset();
    return [
      { name: 'pigeon_relay_event_loop_lag_p99_seconds', help: 'Event-loop delay, 99th percentile since the last scrape.', type: 'gauge', value: p99 },
      { name: 'pigeon_relay_event_loop_lag_max_seconds', help: 'Event-loop delay, maximum since the last scrape.', type: 'gauge', value: max },
    ];
  }

  /** Listens; resolves with the port. */
  async listen(port: number, host: string): Promise<number> {
    this.loop.enable();
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://admin.invalid').pathname;
      if (req.method !== 'GET') return void res.writeHead(405, { Allow: 'GET' }).end();
      if (path === '/healthz') {
        const ok = this.healthy();
        return void res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok\n' : 'stopping\n');
      }
      if (path !== '/metrics') return void res.writeHead(404).end();
      this.metrics().then(
        (m) => res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(prometheusText([...m, ...this.loopMetrics()])),
        (err: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics unavailable: ${(err as Error).message}\n`),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : port;
  }

  async close(): Promise<void> {
    this.loop.disable();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
