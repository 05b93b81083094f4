/**
 * Benchmark support: bench-results/relay.md from the figures of relay.ts.
 */
import type { FanoutFigures, FanoutRun } from './relay-fanout.js';
import { CLIENT_MESSAGE_RATE } from '../../shared/protocol/relay-frames.js';
import type { ConnectionFigures } from './relay-connections.js';
import type { LoadPlan, LoadResult } from './relay-load.js';
import type { Measured, MessageFigures } from './relay-messages.js';
import type { PipeFigures } from './relay-pipe.js';
import type { ScaleOutFigures } from './relay-scaleout.js';

/** Issue targets the figures are held against. */
const TARGETS = { connections: 10_000, connectionsMB: 1024, messagesPerSecond: 20_000, pipeRatio: 0.7 };

const n = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : x.toLocaleString('en-US'));
const pct = (r: { p50: number; p99: number } | null): string => (r ? `${r.p50} / ${r.p99} ms` : '–');
const cores = (c: Record<string, number>): string => Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ');
const met = (ok: boolean): string => (ok ? '**met**' : '**not met**');

function loadRow(name: string, m: Measured<LoadResult>): string {
  const r = m.result;
  return `| ${name} | ${n(r.messages)} | ${n(r.offeredPerSecond)} | ${n(r.ackedPerSecond)} | ${n(r.deliveredPerSecond)} | ${pct(r.ackMs)} | ${pct(r.endToEndMs)} | ${cores(m.cores)} |`;
}

const LOAD_HEADER = ['| run | messages | offered ≤ /s | acknowledged /s | delivered /s | send→ack p50 / p99 | send→deliver p50 / p99 | CPU (cores) |', '|---|---|---|---|---|---|---|---|'];

const warnings = (w: Record<string, number> | undefined): string => {
  const list = Object.entries(w ?? {});
  return list.length ? `Relay warnings: ${list.map(([k, v]) => `${v} × ${k}`).join('; ')}.` : 'The relay logged no warning.';
};

/** `alone`: one relay's section (its warnings and the target); false for an instance of scale-out, whose section says those once. */
function connections(c: (ConnectionFigures & { relayWarnings?: Record<string, number> }) | undefined, alone = true): string[] {
  if (!c) return ['not run'];
  const last = c.steps.at(-1);
  const perConn = (s: { rssMB: number; connections: number }): string => (s.connections > 0 ? `${Math.round(((s.rssMB - c.idle.rssMB) * 1024) / s.connections)} KB` : '–');
  return [
    `${n(c.reached)} authenticated connections reached${c.stopped ? `; stopped: ${c.stopped}` : ''}; closed by the relay during the run: ${c.closedByRelay}${c.closedByRelay ? ` (${Object.entries(c.closeReasons).map(([k, v]) => `${v} × ${k}`).join(', ')})` : ''}. Device keys made beforehand in ${c.keySeconds} s.`,
    '',
    '| connections | relay VmRSS | relay VmHWM | RSS per connection above idle | connects/s in this step | CPU in this step: relay / load generator | relay open fds | load generator RSS |',
    '|---|---|---|---|---|---|---|---|',
    `| 0 (idle) | ${c.idle.rssMB} MB | ${c.idle.hwmMB} MB | | | | | |`,
    ...c.steps.map((s) => `| ${n(s.connections)} | ${s.rssMB} MB | ${s.hwmMB} MB | ${perConn(s)} | ${s.connectsPerSecond} (${s.seconds} s) | ${s.relayCores} / ${s.loadGeneratorCores} cores | ${s.relayFds} | ${s.loadGeneratorRssMB} MB |`),
    ...(alone ? ['', warnings(c.relayWarnings), '', `Target: ${n(TARGETS.connections)} connections within 1 GB: ${met(!!last && last.connections >= TARGETS.connections && last.hwmMB <= TARGETS.connectionsMB)}.`] : []),
  ];
}

/** `alone`: as for connections(). */
function messages(m: (MessageFigures & { plan: LoadPlan; relayWarnings?: Record<string, number> }) | undefined, alone = true): string[] {
  if (!m) return ['not run'];
  const p = m.plan;
  const best = Math.max(m.live.result.ackedPerSecond, m.offline.result.ackedPerSecond);
  return [
    `${p.senders} sender and ${p.recipients} recipient connections (each its own device key); put bodies are Envelopes of ${m.setup.bodyChars} JSON characters (300 base64 characters of ciphertext); each sender keeps ≤ ${p.window} puts unacknowledged (64 in the paced runs) and sends ≤ ${p.ratePerSender}/s (≤ ${n(Math.floor(CLIENT_MESSAGE_RATE * 0.9))}/s in the ${p.recipients}-sender run) (the relay closes a connection above ${n(CLIENT_MESSAGE_RATE)} messages/s). Live recipients acknowledge cumulatively every 50 ms.`,
    '',
    ...LOAD_HEADER,
    loadRow(`live recipients, ${p.senders} senders, as fast as acknowledged`, m.live),
    loadRow(`live recipients, ${p.recipients} senders, as fast as acknowledged`, m.fewSenders),
    ...m.paced.map((x) => loadRow(`live recipients, paced at ${n(x.result.offeredPerSecond)}/s`, x)),
    loadRow('offline recipients: puts stored', m.offline),
    `| offline recipients come back: sync in pages of 500 | ${n(m.drain.result.messages)} | | | ${n(m.drain.result.perSecond)} (${m.drain.result.seconds} s) | | | ${cores(m.drain.cores)} |`,
    ...(alone ? ['', warnings(m.relayWarnings)] : []),
    '',
    `Target ≥ ${n(TARGETS.messagesPerSecond)} stored-and-forwarded messages/s: ${met(m.live.result.deliveredPerSecond !== null && m.live.result.deliveredPerSecond >= TARGETS.messagesPerSecond)} live (${n(m.live.result.deliveredPerSecond)}/s delivered); stored only, best ${n(best)}/s.`,
  ];
}

function mqtt(q: { url: string; error?: string; live?: Measured<LoadResult>; paced?: Measured<LoadResult>[] } | undefined, m: MessageFigures | undefined): string[] {
  if (!q) return ['not run'];
  if (q.error || !q.live) return [`not measured: ${q.error ?? 'no result'}`];
  const lines = [`Same senders, recipients (one topic each, subscribed QoS 1), payload (the put frame's text) and pacing, to ${q.url} (plain TCP; Mosquitto acknowledges QoS 1 from memory, its persistence writes a snapshot now and then; the relay acknowledges after an fsync, over TLS).`, '', ...LOAD_HEADER, loadRow('Mosquitto, as fast as acknowledged', q.live), ...(q.paced ?? []).map((x) => loadRow(`Mosquitto, paced at ${n(x.result.offeredPerSecond)}/s`, x))];
  if (m?.live.result.deliveredPerSecond && q.live.result.deliveredPerSecond) {
    lines.push('', `Ratio pigeon relay ÷ Mosquitto, delivered msgs/s at saturation: **${Math.round((m.live.result.deliveredPerSecond / q.live.result.deliveredPerSecond) * 100) / 100}** (acknowledged: ${Math.round((m.live.result.ackedPerSecond / q.live.result.ackedPerSecond) * 100) / 100}).`);
  }
  return lines;
}

/** One copy of the pipe tables: path, round, MB/s, CPU per GB of each process measured. */
const pipeRow = (name: string, k: number, c: PipeFigures['direct'][number]): string => `| ${name} | ${k + 1} | ${c.mbPerSecond} | ${Object.entries(c.cpuSecondsPerGB).map(([w, v]) => `${w} ${v}`).join(', ')} |`;

function pipe(p: (PipeFigures & { pinned?: boolean; relayWarnings?: Record<string, number> }) | undefined): string[] {
  if (!p) return ['not run'];
  return [
    `${p.bytes / 1e6} MB one way between two client processes, 64 KiB pieces; direct: a TLS 1.3 socket between them; through the relay: each has a control connection, the sender asks pipe-open and both join the pipe, over the raw TCP pipe port with a TLS 1.3 session inside (§12.3.1), over pipe WebSockets (TLS to the relay) with a TLS 1.3 session inside, and over pipe WebSockets with plain bytes (the earlier stops' figure). Alternating, ${p.direct.length} of each.${p.pinned ? ' Pinned (--pipe-pin): the relay on CPU 0, both client processes on CPU 1 (taskset), direct copies included.' : ''}`,
    '',
    '| path | round | MB/s | CPU seconds per GB |',
    '|---|---|---|---|',
    ...p.direct.map((c, k) => pipeRow('direct TLS', k, c)),
    ...(p.raw ?? []).map((c, k) => pipeRow('raw TCP pipe, TLS inside', k, c)),
    ...(p.wsTls ?? []).map((c, k) => pipeRow('WebSocket pipe, TLS inside', k, c)),
    ...p.relayed.map((c, k) => pipeRow('WebSocket pipe, plain bytes', k, c)),
    '',
    warnings(p.relayWarnings),
    '',
    `Raw TCP pipe ÷ direct (means): **${p.rawRatio}**; target ≥ ${TARGETS.pipeRatio}: ${met(p.rawRatio >= TARGETS.pipeRatio)}. Each raw copy ÷ the direct copy before it: ${(p.rawRoundRatios ?? []).join(', ')}. WebSocket pipe with TLS inside ÷ direct: ${p.wsTlsRatio}; plain bytes ÷ direct: ${p.ratio}.`,
  ];
}

export function relayMarkdown(out: Record<string, unknown>): string {
  const m = out.machine as Record<string, unknown>;
  return [
    `# Relay benchmark (${String(out.date)})`,
    '',
    `Node ${String(m.node)}, ${String(m.cpus)} × ${String(m.cpuModel)}, ${String(m.memoryGB)} GB, Linux ${String(m.kernel)}; relay and load generator share the machine${m.pinned && m.pinned !== 'no' ? ` (pinned: ${String(m.pinned)})` : ''}. Relay: \`pigeon relay\` (CLI), SQLite in ${String(m.dataFolder)} on ${String(m.filesystem)}. Open files: ${String(m.openFiles)}. Load average (1, 5, 15 min) at start ${String(m.loadAverageAtStart)}, at end ${String(m.loadAverageAtEnd)}.`,
    '',
    '## a. Authenticated connections held by one relay',
    '',
    ...connections(out.connections as ConnectionFigures | undefined),
    '',
    '## b. Stored-and-forwarded messages, SQLite store',
    '',
    ...messages(out.messages as (MessageFigures & { plan: LoadPlan }) | undefined),
    '',
    '## c. The same load through Mosquitto (MQTT QoS 1)',
    '',
    ...mqtt(out.mqtt as Parameters<typeof mqtt>[0], out.messages as MessageFigures | undefined),
    '',
    '## d. Pipe throughput against a direct TLS socket',
    '',
    ...pipe(out.pipe as PipeFigures | undefined),
    '',
    '## e. Group fan-out',
    '',
    ...fanout(out.fanout as FanoutFigures | undefined),
    '',
    '## f. Scale-out: two instances on PostgreSQL and NATS',
    '',
    ...scaleOut(out.scaleout as ScaleOutFigures | undefined),
    '',
  ].join('\n');
}

function fanout(f: FanoutFigures | undefined): string[] {
  if (!f) return ['not run'];
  const row = (name: string, r: FanoutRun): string =>
    `| ${name} | ${r.received} / ${r.expected} | ${r.latencyMs.p50} | ${r.latencyMs.p90} | ${r.latencyMs.p99} | ${r.latencyMs.max} | ${r.ackMs.p50} / ${r.ackMs.p99} | ${r.deliveriesPerSecond} | ${Object.entries(r.cores).map(([k, v]) => `${k} ${v}`).join(', ')} |`;
  const lines = [
    `One group of ${f.plan.members} members, all connected; one member writes ${f.plan.messages} messages at ${f.plan.rate}/s; latency from put to each member's delivery (every pair), ms.`,
    '',
    '| path | delivered | p50 | p90 | p99 | max | stored-ack p50 / p99 | deliveries/s | cores |',
    '|---|---|---|---|---|---|---|---|---|',
    row('relay (SQLite)', f.relay),
  ];
  if (f.mqtt && 'error' in f.mqtt) lines.push('', `MQTT reference not measured: ${f.mqtt.error}`);
  else if (f.mqtt) {
    lines.push(row('Mosquitto QoS 1', f.mqtt), '', `relay p99 ÷ Mosquitto p99: ${Math.round((f.relay.latencyMs.p99 / f.mqtt.latencyMs.p99) * 100) / 100}`);
  }
  return lines;
}

function scaleOut(f: ScaleOutFigures | undefined): string[] {
  if (!f) return ['not run (`--only scaleout`)'];
  if ('unavailable' in f) return [`not measured: ${f.unavailable}`];
  const mem = Object.entries(f.messages.memory).map(([k, v]) => `${k} ${v.rssMB} MB (peak ${v.hwmMB} MB)`).join(', ');
  return [
    `Store ${f.store}; bus ${f.bus}. Figures per instance: the CPU columns name each instance, the load generator, and PostgreSQL's and NATS's processes; "others" is the rest of the machine.`,
    '',
    '### Messages: senders on instance A, recipients on instance B',
    '',
    ...messages(f.messages, false),
    '',
    `Memory after the runs: ${mem}.`,
    '',
    ...Object.entries(f.connections).flatMap(([name, c]) => [`### Connections held by ${name}`, '', ...connections(c, false), '']),
    '### Pipes: receiver on instance A, sender on instance B (WebSocket pipes; scale-out has no raw pipes)',
    '',
    '| path | round | MB/s | CPU seconds per GB |',
    '|---|---|---|---|',
    ...f.pipe.direct.map((c, k) => pipeRow('direct TLS', k, c)),
    ...f.pipe.wsTls.map((c, k) => pipeRow('WebSocket pipe across instances, TLS inside', k, c)),
    ...f.pipe.relayed.map((c, k) => pipeRow('WebSocket pipe across instances, plain bytes', k, c)),
    '',
    `WebSocket pipe across instances with TLS inside ÷ direct: **${f.pipe.wsTlsRatio}**; plain bytes ÷ direct: ${f.pipe.ratio}.`,
    '',
    ...Object.entries(f.relayWarnings).map(([name, w]) => `${name}: ${warnings(w)}`),
  ];
}
