/**
 * The real `pigeon` command's help, as a new user reads it (issue 15, item 4):
 * every command, `relay` included, is listed by `pigeon --help`; each
 * command's help (subcommands too) has an Examples section; no default is
 * printed twice, and plain flags carry no "(default: false)"; every command
 * that prints something has --json.
 */
import { describe, expect, it } from 'vitest';
import { pigeon } from '../support/cli-peer.js';

/** Command names listed under "Commands:" in a help text. */
function commandsIn(help: string): string[] {
  const section = help.split(/\nCommands:\n/)[1]?.split(/\n\n/)[0] ?? '';
  return section
    .split('\n')
    .map((l) => /^ {2}(\S+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n !== 'help');
}

/** Each option of a help text as one string, its wrapped description joined. */
function optionItems(help: string): string[] {
  const section = help.split(/\nOptions:\n/)[1]?.split(/\n\n/)[0] ?? '';
  const items: string[] = [];
  for (const line of section.split('\n')) {
    if (/^ {2}-/.test(line)) items.push(line.trim());
    else if (items.length > 0) items[items.length - 1] += ` ${line.trim()}`;
  }
  return items;
}

/** Commands whose whole point is their output to a person or a script: --json is expected on each. */
function expectJsonOption(help: string, path: string): void {
  expect(help, `${path} --help`).toMatch(/\n {2}--json\b/);
}

describe('pigeon --help', () => {
  it('lists every command, relay included, with examples and the exit codes', async () => {
    const r = await pigeon(['--help']);
    expect(r.code).toBe(0);
    const names = commandsIn(r.stdout);
    for (const n of ['peer', 'peers', 'send', 'history', 'group', 'ui', 'status', 'chat', 'whoami', 'trust', 'send-file', 'transfers', 'accept', 'decline', 'cancel', 'relay']) {
      expect(names).toContain(n);
    }
    expect(r.stdout).toContain('\nExamples:\n');
    expect(r.stdout).toContain('\nExit codes:\n');
  });

  it('each command and subcommand has an Examples section, --json, and says each default once', async () => {
    const top = commandsIn((await pigeon(['--help'])).stdout);
    const paths: string[][] = [];
    for (const name of top) {
      paths.push([name]);
      if (name === 'relay') continue;
      const help = (await pigeon([name, '--help'])).stdout;
      for (const sub of commandsIn(help)) paths.push([name, sub]);
    }
    expect(paths.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['group create', 'group add', 'group remove', 'group leave', 'group list']));
    for (const path of paths) {
      const r = await pigeon([...path, '--help']);
      const label = `pigeon ${path.join(' ')} --help`;
      expect(r.code, label).toBe(0);
      expect(r.stderr, label).toBe('');
      expect(r.stdout, label).toMatch(/\nExamples:\n {2}pigeon /);
      for (const item of optionItems(r.stdout)) {
        expect((item.match(/\(default/g) ?? []).length, `${label}: ${item}`).toBeLessThanOrEqual(1);
      }
      if (path[0] !== 'relay') expect(r.stdout, label).not.toContain('(default: false)');
      // `group` and `scheduled` themselves only group their subcommands, which carry --json.
      if (!['group', 'scheduled'].includes(path.join(' '))) expectJsonOption(r.stdout, label);
    }
  });

  it('`pigeon help relay` and `pigeon relay --help` both describe the relay', async () => {
    const short = await pigeon(['help', 'relay']);
    expect(short.code).toBe(0);
    expect(short.stdout).toContain('pigeon relay --help');
    const full = await pigeon(['relay', '--help']);
    expect(full.code).toBe(0);
    expect(full.stdout).toContain('--invite-token-file');
    expect(full.stdout).toContain('\nExamples:\n');
  });

  it('a mistyped command gets a suggestion and exit 2', async () => {
    const r = await pigeon(['sned', 'Bob', 'hi']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Did you mean send?');
  });
});
