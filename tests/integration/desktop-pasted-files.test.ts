/** The desktop app's pasted pictures (electron/main/pasted-files.ts, no Electron needed): written under the profile, anything else refused. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PICTURE_MAX_BYTES } from '../../shared/transfer/picture.js';
import { PastedFiles } from '../../electron/main/pasted-files.js';

const PNG_HEAD = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

describe('PastedFiles', () => {
  it('writes a pasted picture under <profile>/pasted and refuses anything else', async () => {
    const home = mkdtempSync(join(tmpdir(), 'pigeon-pasted-'));
    homes.push(home);
    const pasted = new PastedFiles(home);
    const path = await pasted.stage('image.png', PNG_HEAD);
    expect(dirname(dirname(path))).toBe(join(home, 'pasted'));
    expect([...readFileSync(path)]).toEqual([...PNG_HEAD]);
    expect(await pasted.stage('notes.txt', new TextEncoder().encode('not a picture'))).toBe('');
    expect(await pasted.stage('../../evil.png', PNG_HEAD)).toBe('');
    expect(await pasted.stage('a/b.png', PNG_HEAD)).toBe('');
    expect(await pasted.stage('big.png', new Uint8Array(PICTURE_MAX_BYTES + 1))).toBe('');
    expect(await pasted.stage(42, PNG_HEAD)).toBe('');
    await pasted.clear();
    expect(() => readFileSync(path)).toThrow();
  });
});
