/**
 * Benchmark support for the soaks: writes a run's figures to
 * bench-results/<name>.json and .md (gitignored) and sets the exit code from
 * the list of broken promises, so a soak can fail a script as a test fails CI.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/cli-peer.js';

export function writeSoak(name: string, title: string, figures: object, rows: Array<[string, string | number]>, failures: string[]): void {
  const date = new Date().toISOString();
  const dir = join(ROOT, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const machine = { node: process.version, cpus: cpus().length };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ date, machine, figures, failures }, null, 2) + '\n');
  const md = [
    `# ${title} (${date}, Node ${machine.node}, ${machine.cpus} CPUs)`,
    '',
    '| figure | value |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    failures.length ? `**Broken promises:**\n${failures.map((f) => `- ${f}`).join('\n')}` : '**All promises held.**',
    '',
  ].join('\n');
  writeFileSync(join(dir, `${name}.md`), md);
  process.stdout.write(`\n${md}\nwritten to bench-results/${name}.json and .md\n`);
  process.exitCode = failures.length ? 1 : 0;
}
