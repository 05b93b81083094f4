/**
 * Files dropped on the web UI: each file is streamed by an HTTP POST straight
 * to disk, into `<profile>/ui-uploads/<batch>/<relative path>`, never held in
 * memory; the browser then offers the batch's top-level entries by path.
 * A batch is removed once every transfer that offered it is over (done,
 * declined, canceled or failed). Offers from the browser may only name paths
 * inside this folder: the web UI cannot be used to send arbitrary files of
 * the machine.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isFinishedTransfer, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { safeRelativeSegments } from '../../shared/transfer/safe-name.js';

/**
 * A transfer a LocalSend device refused for want of a PIN keeps its batch this
 * long: the browser asks the user for the PIN and offers the same files again
 * (renderer/components/pin-dialog.tsx). Ten minutes to fetch the phone and read it.
 */
const PIN_GRACE_MS = 10 * 60 * 1000;
/** A batch id is chosen by the browser: 16 to 32 hex digits (crypto.getRandomValues there). */
const BATCH_ID = /^[0-9a-f]{16,32}$/;
/** States after which a transfer no longer reads its source files. */

export class WebUiUploads {
  readonly root: string;
  /** Transfer id (or an offer still being made) -> the batch folders it reads from. */
  private readonly inUse = new Map<string, string[]>();
  /** Numbers the offers being made, whose transfer id is not known yet. */
  private holds = 0;

  constructor(home: string) {
    this.root = resolve(home, 'ui-uploads');
  }

  /** Streams one request body to its place in the batch; answers the path to offer (the batch's top-level entry). */
  async receive(req: IncomingMessage, batch: string, relPath: string): Promise<{ path: string }> {
    if (!BATCH_ID.test(batch)) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'bad upload batch id');
    let segments: string[];
    try {
      segments = safeRelativeSegments(relPath);
    } catch {
      throw new PigeonError(ErrorCodes.BAD_REQUEST, `this file name cannot be used: ${relPath.slice(0, 200)}`);
    }
    const batchDir = join(this.root, batch);
    const target = join(batchDir, ...segments);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    try {
      await pipeline(req, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      await unlink(target).catch(() => {});
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new PigeonError(ErrorCodes.BAD_REQUEST, `${relPath} was dropped twice`);
      if (code === 'ENOSPC') throw new PigeonError(ErrorCodes.DISK_FULL, 'the disk is full: the file could not be stored for sending');
      throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'the upload was interrupted');
    }
    return { path: join(batchDir, segments[0]!) };
  }

  /** Throws unless every path lies inside a batch folder. */
  checkOffered(paths: readonly string[]): void {
    for (const p of paths) {
      const rel = relative(this.root, resolve(p));
      if (rel === '' || rel.startsWith('..') || rel.split(sep).length < 2) {
        throw new PigeonError(ErrorCodes.BAD_REQUEST, 'the web UI can only send files dropped on it');
      }
    }
  }

  /**
   * Keeps the batches of an offer being made until its answer comes: the same
   * files offered to several colleagues one after the other (the multi-send
   * dialog) must not be removed because the first transfer ended before the
   * next offer was answered. Returns the release, called once the answer is in
   * (after offered() on success); a failed offer leaves its batch as it was.
   */
  hold(paths: readonly string[]): () => void {
    const key = `offer-being-made-${++this.holds}`;
    this.inUse.set(key, this.batchesOf(paths));
    return () => this.inUse.delete(key);
  }

  /** Remembers which batches a new transfer reads. */
  offered(transfer: TransferInfo, paths: readonly string[]): void {
    this.inUse.set(transfer.id, this.batchesOf(paths));
    if (isFinishedTransfer(transfer.state)) void this.finished(transfer.id);
  }

  private batchesOf(paths: readonly string[]): string[] {
    return [...new Set(paths.map((p) => join(this.root, relative(this.root, resolve(p)).split(sep)[0]!)))];
  }

  /** A transfer changed state: drop its batches when it is over and no other transfer uses them. */
  async onTransfer(transfer: TransferInfo): Promise<void> {
    if (!isFinishedTransfer(transfer.state) || !this.inUse.has(transfer.id)) return;
    if (transfer.state === 'failed' && transfer.error?.includes(ErrorCodes.LOCALSEND_PIN)) {
      setTimeout(() => void this.finished(transfer.id), PIN_GRACE_MS).unref();
      return;
    }
    await this.finished(transfer.id);
  }

  private async finished(id: string): Promise<void> {
    const batches = this.inUse.get(id) ?? [];
    this.inUse.delete(id);
    const stillUsed = new Set([...this.inUse.values()].flat());
    for (const b of batches) if (!stillUsed.has(b)) await rm(b, { recursive: true, force: true });
  }
}
