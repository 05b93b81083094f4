/**
 * `pigeon send-file <peer> <path>...`: offers files and folders through the
 * running peer, then shows a progress bar (bytes, rate, ETA) until the
 * transfer ends, or prints progress events with --json. Without --wait it
 * returns once the receiver has been asked (or the offer is queued).
 *
 * To a colleague who is offline everywhere, with a relay: the files are
 * uploaded (encrypted) and left on the relay; --wait returns once they are
 * there (state `relayed`), since the colleague may be away for days; the
 * transfer shows `done` when they have fetched the files.
 */
import { resolve } from 'node:path';
import { isFinishedTransfer, type PeerEvent, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { ControlClient } from '../control-client.js';
import { formatTransfer, progressLine } from '../format.js';

/** Final states of a transfer. */

export async function runSendFile(home: string, peer: string, paths: string[], o: { wait: boolean; json: boolean; timeoutSeconds: number; pin?: string }): Promise<void> {
  const client = await ControlClient.connect(home);
  try {
    let current: TransferInfo | null = null;
    const tty = process.stdout.isTTY && !o.json;
    let lastLine = 0;
    const show = (t: TransferInfo): void => {
      if (o.json) return void process.stdout.write(JSON.stringify(t) + '\n');
      if (tty) return void process.stdout.write(`\r\x1b[K${progressLine(t)}`);
      const now = Date.now();
      if (now - lastLine >= 1000 || isFinishedTransfer(t.state)) {
        lastLine = now;
        process.stdout.write(progressLine(t) + '\n');
      }
    };
    // Events read in the same chunk as the sendFiles answer come before `current` is set: kept, then replayed.
    const early: PeerEvent[] = [];
    let onEvent: (e: PeerEvent) => void = (e) => void early.push(e);
    const finished = new Promise<TransferInfo>((resolvePromise) => {
      void client.subscribe((e: PeerEvent) => onEvent(e));
      onEvent = (e: PeerEvent) => {
        if (current === null) return void early.push(e);
        if ((e.type === 'transfer' || e.type === 'transfer-progress') && e.transfer.id === current.id) {
          show(e.transfer);
          // Left on the relay, or could not be (the error says why; the offer still waits for the peer).
          const resting = e.transfer.state === 'relayed' || (e.transfer.state === 'queued' && e.transfer.error !== null);
          if (isFinishedTransfer(e.transfer.state) || resting) resolvePromise(e.transfer);
        }
      };
    });
    current = await client.request('sendFiles', { peer, paths: paths.map((p) => resolve(p)), ...(o.pin !== undefined ? { pin: o.pin } : {}) });
    if (!o.json) process.stdout.write(`${formatTransfer(current, peer)}\n`);
    else show(current);
    for (const e of early.splice(0)) onEvent(e);
    if (!o.wait) return;
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new PigeonError(ErrorCodes.NOT_DELIVERED, `not finished within ${o.timeoutSeconds} s; the transfer goes on in the background (pigeon transfers)`)), o.timeoutSeconds * 1000).unref(),
    );
    const end = await Promise.race([finished, timeout]);
    if (tty) process.stdout.write('\n');
    if (end.state === 'relayed') {
      if (!o.json) process.stdout.write(`left on the relay: ${formatTransfer(end, peer)}\n${peer} is offline; the files are delivered when ${peer} connects (pigeon transfers shows when they arrived)\n`);
      return;
    }
    if (end.state === 'queued') throw new PigeonError(/full/.test(end.error ?? '') ? ErrorCodes.RELAY_QUOTA : ErrorCodes.TRANSFER_FAILED, `transfer ${end.id.slice(0, 8)} ${end.error ?? 'not left on the relay'}`);
    if (end.state !== 'done') {
      throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `transfer ${end.state}${end.error ? `: ${end.error}` : ''}`);
    }
    if (!o.json) process.stdout.write(`done: ${formatTransfer(end, peer)}\n`);
  } finally {
    client.close();
  }
}
