/**
 * Start cost in a crowd (issue 12): K real `pigeon peer --json` processes
 * started SPACING ms apart on loopback, each on a fresh profile as in the
 * office soak, but each with a discovery port of its own, so that their
 * broadcasts reach nobody: until `listening` what is measured is the start
 * itself under contention (cores, caches, memory); no peer printed an event
 * before it. Each peer reports its own CPU at
 * the moment it writes `listening` (start-cpu-preload.ts), per thread, with
 * page faults and context switches. Variants (builds, Node flags,
 * environment) are alternated crowd by crowd, so a change of load touches
 * them alike. PIGEON_CROWD_SETTLE_S keeps the crowd running that long after
 * the last `listening` and reports each peer's whole CPU at its exit: with
 * mDNS on (the default) peers on one host meet through the multicast of the
 * host's interface, so that is the crowd's joins; --no-mdns keeps them apart.
 * (They do not all meet within seconds: ~12–19 of 39–59 colleagues listed,
 * an office needs the network namespaces of the office soak.)
 *
 * Usage: node dist/tests/bench/crowd-start.js [sizes=1,20,60,150] [rounds=1]
 *   PIGEON_CROWD_VARIANTS='[{"name":"base","cli":"/other/bin/pigeon.js"},{"name":"v8pool1","nodeArgs":["--v8-pool-size=1"]},{"name":"x","env":{"K":"V"}}]'
 *   PIGEON_CROWD_SPACING_MS (default 100, the office soak's), PIGEON_CROWD_PEER_ARGS (extra peer options),
 *   PIGEON_CROWD_SETTLE_S (default 0), PIGEON_CROWD_PROF_DIR (a --cpu-prof of the peer PIGEON_CROWD_PROF_INDEX, default the first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, freeUdpPort, removeHome, ROOT, tempHome } from '../support/cli-peer.js';

/** The office soak's spacing of starts (tests/support/office-run.ts). */
const SPACING_MS = Number(process.env.PIGEON_CROWD_SPACING_MS ?? 100);
/** A start that has not printed `listening` after this long is reported as failed (a crowd of 150 on 2 loaded cores took up to ~35 s). */
const READY_LIMIT_MS = 180_000;
/** How often the bench looks for the peers' reports: coarse, the figures are taken inside the peers. */
const POLL_MS = 200;

interface Variant {
  name: string;
  cli?: string;
  nodeArgs?: string[];
  env?: Record<string, string>;
}

interface Report {
  userS: number;
  sysS: number;
  threads: Record<string, number>;
  minorFaults: number;
  majorFaults: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
  rssMB: number;
  wallMs: number;
  eventsBefore: Record<string, number>;
}

const sizes = (process.argv[2] ?? '1,20,60,150').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 1);
const variants: Variant[] = process.env.PIGEON_CROWD_VARIANTS ? (JSON.parse(process.env.PIGEON_CROWD_VARIANTS) as Variant[]) : [{ name: 'this build' }];
const preload = fileURLToPath(new URL('./start-cpu-preload.js', import.meta.url));
const peerArgs = (process.env.PIGEON_CROWD_PEER_ARGS ?? '').split(' ').filter(Boolean);
const settleMs = Number(process.env.PIGEON_CROWD_SETTLE_S ?? 0) * 1000;
const profDir = process.env.PIGEON_CROWD_PROF_DIR;
const profIndex = Number(process.env.PIGEON_CROWD_PROF_INDEX ?? 0);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function crowd(v: Variant, k: number): Promise<{ reports: Report[]; ends: Report[]; failed: number; spanMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-crowd-'));
  const homes: string[] = [];
  const children: ChildProcess[] = [];
  const t0 = Date.now();
  for (let i = 0; i < k; i++) {
    if (i > 0) await sleep(SPACING_MS);
    const home = tempHome('crowd');
    homes.push(home);
    const args = ['peer', '--home', home, '--name', `user${i + 1}`, '--json', '--port', '0', '--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255', ...peerArgs];
    children.push(
      spawn(process.execPath, [...(v.nodeArgs ?? []), ...(profDir && i === profIndex ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), '--import', preload, v.cli ?? BIN, ...args], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, ...v.env, PIGEON_START_CPU_DIR: dir },
      }),
    );
  }
  const exited = new Set<number>();
  children.forEach((c, i) => c.on('exit', () => exited.add(i)));
  const reports: Array<Report | undefined> = [];
  const limit = Date.now() + READY_LIMIT_MS;
  while (Date.now() < limit) {
    children.forEach((c, i) => {
      const file = join(dir, `${c.pid}.json`);
      if (!reports[i] && existsSync(file)) reports[i] = JSON.parse(readFileSync(file, 'utf8')) as Report;
    });
    if (children.every((_, i) => reports[i] || exited.has(i))) break;
    await sleep(POLL_MS);
  }
  const spanMs = Date.now() - t0;
  if (settleMs) await sleep(settleMs);
  await Promise.all(children.map((c, i) => (exited.has(i) ? undefined : new Promise((r) => { c.once('exit', r); c.kill('SIGTERM'); }))));
  const ends = children.map((c) => join(dir, `${c.pid}.end.json`)).filter((f) => existsSync(f)).map((f) => JSON.parse(readFileSync(f, 'utf8')) as Report);
  homes.forEach(removeHome);
  rmSync(dir, { recursive: true, force: true });
  const got = reports.filter((r): r is Report => r !== undefined);
  return { reports: got, ends, failed: k - got.length, spanMs };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const r2 = (x: number): string => x.toFixed(2);

/** Thread names summed into the columns: Node's main thread is named after the process ("node", or MainThread). */
function threadGroups(r: Report): Record<string, number> {
  const g: Record<string, number> = { main: 0, v8: 0, pool: 0, other: 0 };
  for (const [name, s] of Object.entries(r.threads)) {
    if (name.startsWith('V8Worker') || name.startsWith('V8 ')) g.v8! += s;
    else if (name.startsWith('libuv-worker')) g.pool! += s;
    else if (name === 'node' || name === 'MainThread' || name.startsWith('pigeon')) g.main! += s;
    else g.other! += s;
  }
  return g;
}

const rows: string[] = [];
const figures: Record<string, unknown>[] = [];
const names = new Set<string>();
for (let round = 0; round < rounds; round++) {
  for (const k of sizes) {
    for (const v of variants) {
      const load = loadavg()[0]!.toFixed(1);
      const { reports, ends, failed, spanMs } = await crowd(v, k);
      const endCpu = ends.map((r) => r.userS + r.sysS);
      const online = ends.map((r) => r.eventsBefore['peer-online'] ?? 0);
      const cpu = reports.map((r) => r.userS + r.sysS);
      const groups = reports.map(threadGroups);
      reports.forEach((r) => Object.keys(r.threads).forEach((n) => names.add(n)));
      const ev = reports.reduce((a, r) => a + Object.values(r.eventsBefore).reduce((x, y) => x + y, 0), 0);
      const row = {
        round, k, variant: v.name, load, failed, spanS: spanMs / 1000,
        cpuMedian: median(cpu), cpuMean: mean(cpu), cpuSum: cpu.reduce((a, b) => a + b, 0),
        userMean: mean(reports.map((r) => r.userS)), sysMean: mean(reports.map((r) => r.sysS)),
        mainMean: mean(groups.map((g) => g.main!)), v8Mean: mean(groups.map((g) => g.v8!)), poolMean: mean(groups.map((g) => g.pool!)), otherMean: mean(groups.map((g) => g.other!)),
        minorFaultsMean: mean(reports.map((r) => r.minorFaults)), majorFaultsMean: mean(reports.map((r) => r.majorFaults)),
        volMean: mean(reports.map((r) => r.voluntarySwitches)), involMean: mean(reports.map((r) => r.involuntarySwitches)),
        wallMedianMs: median(reports.map((r) => r.wallMs)), rssMean: mean(reports.map((r) => r.rssMB)), eventsBefore: ev,
        endCpuMean: mean(endCpu), endCpuSum: endCpu.reduce((a, b) => a + b, 0), onlineMean: mean(online), settleS: settleMs / 1000,
      };
      figures.push(row);
      const line = `| ${round + 1} | ${k} | ${v.name} | ${load} | ${r2(row.cpuMedian)} / ${r2(row.cpuMean)} | ${r2(row.userMean)} / ${r2(row.sysMean)} | ${r2(row.mainMean)} / ${r2(row.v8Mean)} / ${r2(row.poolMean)} / ${r2(row.otherMean)} | ${Math.round(row.minorFaultsMean)} / ${Math.round(row.majorFaultsMean)} | ${Math.round(row.volMean)} / ${Math.round(row.involMean)} | ${(row.wallMedianMs / 1000).toFixed(1)} | ${row.rssMean.toFixed(1)} | ${ev} | ${failed} | ${settleMs ? `${r2(row.endCpuMean)} / ${row.onlineMean.toFixed(1)}` : '-'} |`;
      rows.push(line);
      process.stdout.write(`${line}\n`);
    }
  }
}
const md = [
  `# Start cost in a crowd (${new Date().toISOString()}, Node ${process.version}, ${SPACING_MS} ms apart, fresh profiles, loopback, a discovery port each)`,
  '',
  `| round | K | variant | load at start | CPU s at listening: median / mean | user / sys | threads: main / V8 workers / libuv pool / other | minor / major faults | voluntary / involuntary switches | wall to listening, median s | RSS MB | events before listening (all peers) | failed | whole life (settle ${settleMs / 1000} s): CPU s / peer-online lines, mean |`,
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  `threads seen: ${[...names].sort().join(', ')}`,
  '',
].join('\n');
mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
writeFileSync(join(ROOT, 'bench-results', 'crowd-start.json'), JSON.stringify({ sizes, rounds, variants, figures }, null, 2) + '\n');
writeFileSync(join(ROOT, 'bench-results', 'crowd-start.md'), md);
process.stdout.write(`\n${md}\nwritten to bench-results/crowd-start.json and .md\n`);
