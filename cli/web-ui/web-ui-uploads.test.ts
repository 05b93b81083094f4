/**
 * The web UI's upload batches on a real disk: a batch lives while any
 * transfer, or any offer still being made, reads it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransferInfo } from '../../shared/api/control-api.js';
import { WebUiUploads } from './web-ui-uploads.js';

const homes: string[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

function setup(): { uploads: WebUiUploads; batch: string; file: string } {
  const home = mkdtempSync(join(tmpdir(), 'pigeon-uploads-'));
  homes.push(home);
  const uploads = new WebUiUploads(home);
  const batch = join(uploads.root, '0123456789abcdef');
  mkdirSync(batch, { recursive: true });
  const file = join(batch, 'agenda.txt');
  writeFileSync(file, 'agenda');
  return { uploads, batch, file };
}

const transfer = (id: string, state: string): TransferInfo => ({ id, state }) as TransferInfo;

describe('web UI upload batches', () => {
  it('keep a batch offered to a second colleague while the first transfer ends before that offer is answered', async () => {
    const { uploads, batch, file } = setup();
    uploads.offered(transfer('t-bob', 'offered'), [file]);
    const release = uploads.hold([file]); // the offer to Carol is being made
    await uploads.onTransfer(transfer('t-bob', 'done'));
    expect(existsSync(file)).toBe(true);
    uploads.offered(transfer('t-carol', 'offered'), [file]);
    release();
    await uploads.onTransfer(transfer('t-carol', 'done'));
    expect(existsSync(batch)).toBe(false);
  });

  it('remove a batch once its only transfer is over', async () => {
    const { uploads, batch, file } = setup();
    const release = uploads.hold([file]);
    uploads.offered(transfer('t-bob', 'offered'), [file]);
    release();
    await uploads.onTransfer(transfer('t-bob', 'declined'));
    expect(existsSync(batch)).toBe(false);
  });
});
