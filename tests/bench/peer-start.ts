/**
 * Start-up cost of a headless peer (issue 12): the CPU seconds (user + system)
 * a `pigeon peer --json` process has used when it prints "listening", and the
 * wall time to that line, median of several starts. An office switching on
 * starts many peers at once on a few cores, so this cost, times the crowd,
 * decides when the last colleague appears. Six cases: the `pigeon` command
 * itself (bin/pigeon.js, which runs the bundle when it is current), the
 * bundled CLI and the separate compiled modules, each on a fresh profile
 * (first run: key and certificate made, database created) and on an
 * existing one. PIGEON_BENCH_CLI=<another build's bin/pigeon.js> measures
 * that build's command instead of this one's (a before/after pair in one
 * sitting, runs alternated by running the bench twice).
 * Run alone on an idle machine: every process is measured by its own CPU
 * time, but a busy machine still slows caches and the scheduler.
 *
 * Usage: npm run bench:start [-- runs]   (default 9 starts per case)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, freeUdpPort, removeHome, ROOT, tempHome } from '../support/cli-peer.js';
import { cpuSeconds } from './proc-stats.js';

/** Starts per case: odd, so the median is one of them; 9 keeps the run under a minute. */
const DEFAULT_RUNS = 9;
const runs = Number(process.argv[2] ?? DEFAULT_RUNS);

/** Each entry runs the same CLI `main`: the bundle is what bin/pigeon.js picks when it is current. */
const ENTRIES = {
  command: process.env.PIGEON_BENCH_CLI ?? BIN,
  bundle: join(ROOT, 'dist', 'cli', 'bundle', 'pigeon.cjs'),
  modules: join(ROOT, 'dist', 'cli', 'main.js'),
} as const;

/** Node's arguments that run one entry: the command as it is, the others' main() as bin/pigeon.js would. */
function launcher(entry: string): string[] {
  if (entry.endsWith(join('bin', 'pigeon.js'))) return [entry];
  return ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(new URL(`file://${entry}`).href)}); process.exitCode = await main(['node', 'pigeon', ...process.argv.slice(1)]);`];
}

interface Start {
  cpu: number;
  ms: number;
}

async function startOnce(entry: string, home: string): Promise<Start> {
  const t = performance.now();
  // Default options (mDNS on), but any free TCP port, a discovery port of its
  // own and a loopback-only broadcast: the starts measured here meet nobody.
  const args = ['peer', '--home', home, '--json', '--port', '0', '--discovery-port', String(await freeUdpPort()), '--broadcast', '127.255.255.255'];
  const child = spawn(process.execPath, [...launcher(entry), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('"type":"listening"')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`pigeon peer exited with ${code} before listening`)));
  });
  const start = { cpu: cpuSeconds(child.pid!), ms: performance.now() - t };
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  return start;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(entry: string, fresh: boolean): Promise<{ cpu: number; ms: number; all: number[] }> {
  const starts: Start[] = [];
  const kept = tempHome('start-bench');
  // One start made the kept profile: the runs measured below find it existing.
  if (!fresh) await startOnce(entry, kept);
  for (let i = 0; i < runs; i++) {
    const home = fresh ? tempHome('start-bench') : kept;
    starts.push(await startOnce(entry, home));
    if (fresh) removeHome(home);
    process.stdout.write('.');
  }
  removeHome(kept);
  return { cpu: median(starts.map((s) => s.cpu)), ms: Math.round(median(starts.map((s) => s.ms))), all: starts.map((s) => s.cpu) };
}

const rows: string[] = [];
const figures: Record<string, unknown> = {};
for (const [name, entry] of Object.entries(ENTRIES)) {
  if (!existsSync(entry)) {
    process.stdout.write(`${name}: ${entry} is missing (npm run build makes it)\n`);
    continue;
  }
  for (const fresh of [true, false]) {
    const m = await measure(entry, fresh);
    const label = `${name}, ${fresh ? 'fresh profile' : 'existing profile'}`;
    figures[label] = m;
    rows.push(`| ${label} | ${m.cpu.toFixed(2)} | ${m.ms} | ${m.all.map((c) => c.toFixed(2)).join(' ')} |`);
  }
}
const md = [
  `# Start-up of pigeon peer to "listening" (${new Date().toISOString()}, Node ${process.version}, median of ${runs})`,
  '',
  '| case | CPU s (user+sys) | wall ms | every start, CPU s |',
  '|---|---|---|---|',
  ...rows,
  '',
].join('\n');
mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
writeFileSync(join(ROOT, 'bench-results', 'peer-start.json'), JSON.stringify({ runs, figures }, null, 2) + '\n');
writeFileSync(join(ROOT, 'bench-results', 'peer-start.md'), md);
process.stdout.write(`\n${md}\nwritten to bench-results/peer-start.json and .md\n`);
