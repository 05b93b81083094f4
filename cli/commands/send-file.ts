/**
 * `pigeon send-file <peer> <path>...`: offers files and folders through the
 * running peer. Without --wait it prints the offer, says that the transfer
 * continues in the background and how to follow it, and exits 0: no progress
 * bar for a transfer it does not watch. With --wait it shows progress
 * (progress.ts: redrawn in place on a terminal, occasional lines otherwise;
 * JSON lines with --json) until the transfer ends.
 *
 * --wait means what it means for `send`: done once the colleague has
 * everything, or, for a colleague offline everywhere, once the files are
 * stored on the relay (state `relayed`, exit 0, and it says so), since the
 * colleague may be away for days; the transfer shows `done` when they have
 * fetched the files.
 */
import { resolve } from 'node:path';
import { isFinishedTransfer, type PeerEvent, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { ControlClient } from '../control-client.js';
import { formatTransfer } from '../format.js';
import { formatLanded } from '../format-landed.js';
import { ProgressPrinter } from '../progress.js';

/** How to follow a transfer from another command. */
function followHint(t: TransferInfo): string {
  return `pigeon transfers ${t.id.slice(0, 8)}`;
}

export async function runSendFile(home: string, peer: string, paths: string[], o: { wait: boolean; json: boolean; timeoutSeconds: number; pin?: string }): Promise<void> {
  const client = await ControlClient.connect(home);
  try {
    if (!o.wait) {
      const t = await client.request('sendFiles', { peer, paths: paths.map((p) => resolve(p)) });
      if (o.json) process.stdout.write(JSON.stringify(t) + '\n');
      else process.stdout.write(`${formatTransfer(t, peer)}\nThe transfer continues in the background; follow it with: ${followHint(t)}\n`);
      return;
    }
    let current: TransferInfo | null = null;
    const progress = new ProgressPrinter(process.stdout);
    let lastState = '';
    /** Bytes moving (to Bob, or up to the relay): the progress line; a new state before that: a line saying it. */
    const show = (t: TransferInfo): void => {
      if (o.json) return void process.stdout.write(JSON.stringify(t) + '\n');
      const moving = !isFinishedTransfer(t.state) && t.state !== 'relayed' && (t.state === 'accepted' || t.doneBytes > 0);
      // The bar, once drawn, ends at 100 % when the transfer is done.
      if (moving || (t.state === 'done' && progress.started)) progress.show(t);
      else if (t.state !== lastState && t.state !== 'queued' && !isFinishedTransfer(t.state) && t.state !== 'relayed') progress.note(formatTransfer(t, peer));
      lastState = t.state;
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
          // Stored on the relay, or could not be (the error says why; the offer still waits for the peer).
          const resting = e.transfer.state === 'relayed' || (e.transfer.state === 'queued' && e.transfer.error !== null);
          if (isFinishedTransfer(e.transfer.state) || resting) resolvePromise(e.transfer);
        }
      };
    });
    current = await client.request('sendFiles', { peer, paths: paths.map((p) => resolve(p)), ...(o.pin !== undefined ? { pin: o.pin } : {}) });
    if (o.json) show(current);
    else process.stdout.write(`${formatTransfer(current, peer)}\n`);
    lastState = current.state;
    for (const e of early.splice(0)) onEvent(e);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new PigeonError(ErrorCodes.NOT_DELIVERED, `not finished within ${o.timeoutSeconds} s; the transfer goes on in the background (${followHint(current!)})`)), o.timeoutSeconds * 1000).unref(),
    );
    const end = await Promise.race([finished, timeout]).finally(() => progress.end());
    if (end.state === 'relayed') {
      if (!o.json) process.stdout.write(`stored on the relay: ${formatTransfer(end, peer)}\n${peer} is offline; the files are delivered when ${peer} connects (${followHint(end)} shows when they arrived)\n`);
      return;
    }
    if (end.state === 'queued') throw new PigeonError(/full/.test(end.error ?? '') ? ErrorCodes.RELAY_QUOTA : ErrorCodes.TRANSFER_FAILED, `transfer ${end.id.slice(0, 8)} ${end.error ?? 'not stored on the relay'}`);
    if (end.state !== 'done') {
      throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `transfer ${end.state}${end.error ? `: ${end.error}` : ''}`);
    }
    if (!o.json) process.stdout.write(`done: ${formatTransfer(end, peer)}\n${formatLanded(await client.request('transferFiles', { transfer: end.id }), peer)}\n`);
  } finally {
    client.close();
  }
}
