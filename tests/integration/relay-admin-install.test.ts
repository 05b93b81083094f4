/**
 * docs/relay-admin.md's installation (section 0) and its systemd unit
 * (section 1) belong together (issue 15: the old unit named a /usr/bin/pigeon
 * that nothing installed). Checked here: every path the unit names is made
 * by an installation step; the unit passes `systemd-analyze verify` (where
 * systemd is installed) with its paths moved into a scratch root built as
 * the installation says; and the unit's command line starts a real relay.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, removeHome, tempHome } from '../support/cli-peer.js';
import { LineProcess } from '../support/line-process.js';

const guide = readFileSync(join(ROOT, 'docs', 'relay-admin.md'), 'utf8');

/** The first fenced block of `lang` after `heading`. */
function block(heading: string, lang: string): string {
  const from = guide.indexOf(heading);
  expect(from, heading).toBeGreaterThanOrEqual(0);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(guide.slice(from));
  expect(m, `${lang} block after ${heading}`).not.toBeNull();
  return m![1]!;
}

const install = block('## 0. Installing from a fresh clone', 'sh');
const unitText = block('### As a service (systemd)', 'ini');
/** The unit's [Service] settings. */
const unit = new Map(unitText.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
const exec = unit.get('ExecStart')!.split(' ');
/** The shell commands of the installation, comments dropped. */
const steps = install.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l && !l.startsWith('#'));
const step = (re: RegExp): RegExpExecArray => {
  const found = steps.map((s) => re.exec(s)).find(Boolean);
  expect(found, `an installation step matching ${re}`).toBeTruthy();
  return found!;
};

let work = '';
afterAll(() => {
  if (work) removeHome(work);
});

/** A scratch root holding the command where the installation links it (to this checkout, standing in for the clone); made once. */
function installedCommand(): string {
  work = work || tempHome('relay-install');
  const link = join(work, 'root', exec[0]!);
  if (!existsSync(link)) {
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(BIN, link);
  }
  return link;
}

describe('relay installation and its systemd unit', () => {
  it('names only paths and a user that the installation creates', () => {
    const cloneDir = step(/^sudo git clone \S+ (\/\S+)$/)[1]!;
    const [, target, link] = step(/^sudo ln -sf? (\S+) (\S+)$/);
    // The link points at the package's own `pigeon` command, in the clone.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { pigeon: string } };
    expect(target).toBe(`${cloneDir}/${pkg.bin.pigeon}`);
    expect(statSync(join(ROOT, pkg.bin.pigeon)).mode & 0o111).not.toBe(0);
    expect(steps).toContain(`cd ${cloneDir}`);
    expect(steps.some((s) => /npm ci$/.test(s))).toBe(true);
    expect(steps).toContain('sudo npm run build');
    // The unit runs that command, as the user the installation adds, on the folder systemd makes for it.
    expect(exec[0]).toBe(link);
    expect(exec[1]).toBe('relay');
    const user = step(/^sudo useradd --system .* (\S+)$/)[1]!;
    expect(unit.get('User')).toBe(user);
    expect(unit.get('Group')).toBe(user);
    expect(exec[exec.indexOf('--data') + 1]).toBe(`/var/lib/${unit.get('StateDirectory')}`);
    // The token file the unit hands over is the one the installation writes.
    const [, credential, tokenPath] = /^([\w-]+):(\S+)$/.exec(unit.get('LoadCredential')!)!;
    expect(steps.some((s) => s.includes(`> ${tokenPath}`))).toBe(true);
    expect(exec[exec.indexOf('--invite-token-file') + 1]).toBe(`\${CREDENTIALS_DIRECTORY}/${credential}`);
    expect(unit.get('Documentation')).toBe(`file:${cloneDir}/docs/relay-admin.md`);
  });

  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  it.skipIf(!analyze)('passes systemd-analyze verify once its command exists where the installation puts it', () => {
    const link = installedCommand();
    const file = join(work, 'pigeon-relay.service');
    writeFileSync(file, unitText.replace(`ExecStart=${exec[0]}`, `ExecStart=${link}`));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8' });
    console.log(`systemd-analyze verify: exit ${r.status}${r.stderr ? `\n${r.stderr}` : ''}`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it("starts a relay with the unit's command line through the installed link, the credential in place", async () => {
    const link = installedCommand();
    const credentials = join(work, 'credentials');
    mkdirSync(credentials, { mode: 0o700 });
    const [, credential] = /^([\w-]+):/.exec(unit.get('LoadCredential')!)!;
    writeFileSync(join(credentials, credential!), 'office-token\n', { mode: 0o600 });
    // What systemd would run: ${CREDENTIALS_DIRECTORY} expanded, the data folder in the scratch folder, a free port.
    const args = exec.slice(1).map((a) => a.replace('${CREDENTIALS_DIRECTORY}', credentials).replace(/^\/var\/lib\//, `${work}/var-lib/`));
    // Run as systemd runs it: the link itself (its `#!/usr/bin/env node` line), node found on the PATH.
    const relay = new LineProcess(link, [...args, '--port', '0', '--host', '127.0.0.1'], { env: { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin` } });
    try {
      const command = await relay.waitForLine(/^ {2}pigeon peer /);
      expect(command).toContain('--relay-token-file');
      expect(existsSync(join(work, 'var-lib', unit.get('StateDirectory')!, 'relay-cert.pem')), relay.lines.join('\n')).toBe(true);
    } finally {
      await relay.stop();
    }
    expect(await relay.exited, relay.lines.join('\n')).toBe(0);
  });
});
