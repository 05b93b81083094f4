import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../util/components.js';
import { ownerOnlyFile, secureProfileFolder } from './profile-folder.js';

let dir: string;
const lines: string[] = [];
const logger: Logger = { log: (_level, message, fields) => void lines.push(`${message} ${JSON.stringify(fields ?? {})}`) };
const mode = (p: string): number => statSync(p).mode & 0o777;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pigeon-profile-folder-'));
  lines.length = 0;
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(process.platform === 'win32')('secureProfileFolder', () => {
  it('creates a missing profile 0700, quietly', () => {
    const home = join(dir, 'new', 'profile');
    secureProfileFolder(home, logger);
    expect(mode(home)).toBe(0o700);
    expect(lines).toEqual([]);
  });

  it('repairs an open folder and its files with one line, leaves sub-folders and link targets alone, and is quiet the second time', () => {
    const home = join(dir, 'profile');
    mkdirSync(join(home, 'downloads'), { recursive: true });
    chmodSync(home, 0o755);
    chmodSync(join(home, 'downloads'), 0o755);
    writeFileSync(join(home, 'pigeon.db'), 'x', { mode: 0o644 });
    writeFileSync(join(home, 'device-key.pem'), 'k', { mode: 0o600 });
    const outside = join(dir, 'elsewhere.txt');
    writeFileSync(outside, 'y', { mode: 0o644 });
    symlinkSync(outside, join(home, 'link.txt'));

    secureProfileFolder(home, logger);
    expect(mode(home)).toBe(0o700);
    expect(mode(join(home, 'pigeon.db'))).toBe(0o600);
    expect(mode(join(home, 'device-key.pem'))).toBe(0o600);
    expect(mode(join(home, 'downloads'))).toBe(0o755);
    expect(mode(outside)).toBe(0o644);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('. 0755→0700, pigeon.db 0644→0600');

    secureProfileFolder(home, logger);
    expect(lines).toHaveLength(1);
  });

  it('ownerOnlyFile makes a missing file 0600 and keeps an existing one as it is', () => {
    const f = ownerOnlyFile(join(dir, 'pigeon.db'));
    expect(mode(f)).toBe(0o600);
    writeFileSync(join(dir, 'old.db'), 'data', { mode: 0o640 });
    ownerOnlyFile(join(dir, 'old.db'));
    expect(statSync(join(dir, 'old.db')).size).toBe(4);
  });
});
