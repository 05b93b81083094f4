/**
 * Start-up cost of a headless peer (issue 12): the CPU seconds (user + system)
 * a `pigeon peer --json` process has used when it prints "listening", and the
 * wall time to that line, median of several starts. An office switching on
 * starts many peers at once on a few cores, so this cost, times the crowd,
 * decides when the last colleague appears. Six cases: the `pigeon` command
 * itself (bin/pigeon.js, which runs the bundle when it is current), the
 * bundled CLI and the separate compiled modules, each on a fresh profile
 * (first run: key and certificate made, database created) and on an
 * existing one; the cases' starts are alternated. PIGEON_BENCH_CLI=<another
 * build's bin/pigeon.js> measures that build's command instead of this one's,
 * and a comma-separated list of commands measures only those, side by side.
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

/**
 * Each entry runs the same CLI `main`: the bundle is what bin/pigeon.js picks
 * when it is current. PIGEON_BENCH_CLI=a/bin/pigeon.js,b/bin/pigeon.js
 * measures those commands instead (builds side by side, starts alternated).
 */
const ENTRIES: Record<string, string> = process.env.PIGEON_BENCH_CLI?.includes(',')
  ? Object.fromEntries(process.env.PIGEON_BENCH_CLI.split(',').map((cli) => [cli, cli]))
  : { command: process.env.PIGEON_BENCH_CLI ?? BIN, bundle: join(ROOT, 'dist', 'cli', 'bundle', 'pigeon.cjs'), modules: join(ROOT, 'dist', 'cli', 'main.js') };

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

/** Measures every entry, alternated start by start, so that a change of load touches all of them alike. */
async function measure(entries: string[], fresh: boolean): Promise<Array<{ cpu: number; ms: number; all: number[] }>> {
  const starts: Start[][] = entries.map(() => []);
  const kept = entries.map(() => tempHome('start-bench'));
  // One start made each kept profile: the runs measured below find it existing.
  if (!fresh) for (const [i, entry] of entries.entries()) await startOnce(entry, kept[i]!);
  for (let r = 0; r < runs; r++) {
    for (const [i, entry] of entries.entries()) {
      const home = fresh ? tempHome('start-bench') : kept[i]!;
      starts[i]!.push(await startOnce(entry, home));
      if (fresh) removeHome(home);
    }
    process.stdout.write('.');
  }
  kept.forEach(removeHome);
  return starts.map((st) => ({ cpu: median(st.map((s) => s.cpu)), ms: Math.round(median(st.map((s) => s.ms))), all: st.map((s) => s.cpu) }));
}

const rows: string[] = [];
const figures: Record<string, unknown> = {};
const present = Object.entries(ENTRIES).filter(([name, entry]) => {
  if (!existsSync(entry)) process.stdout.write(`${name}: ${entry} is missing (npm run build makes it)\n`);
  return existsSync(entry);
});
for (const fresh of [true, false]) {
  const results = await measure(present.map(([, entry]) => entry), fresh);
  for (const [i, [name]] of present.entries()) {
    const m = results[i]!;
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
