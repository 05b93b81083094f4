/**
 * Sending to several people at once from the command line (spec §7.12):
 * `pigeon send Bob,Carol TEXT`, `--workgroup Sales`, `--everyone`, the same
 * on `send-file`, and `pigeon recipients ID` to see who got a message.
 * Output: the multi-send id, "delivered to N of M" and one line per
 * recipient; --json prints the MultiSendInfo. With --wait the command waits
 * for every copy and exits 0 only if all were delivered (5 otherwise, the
 * rest stays queued).
 */
import { resolve } from 'node:path';
import { isFinishedTransfer, type MultiSendInfo, type Recipients, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { withClient } from '../control-client.js';
import { formatTransfer } from '../format.js';

/** Options of `send` and `send-file` that name several recipients. */
export interface RecipientOptions {
  workgroup?: string;
  everyone?: boolean;
}

/** The recipients the command line names, or null for a single peer (or group) as before. */
export function recipientsOf(to: string | undefined, o: RecipientOptions): Recipients | null {
  if (o.workgroup !== undefined && o.everyone) throw new PigeonError(ErrorCodes.BAD_REQUEST, '--workgroup and --everyone do not go together');
  if (o.workgroup !== undefined) return { workgroup: o.workgroup };
  if (o.everyone) return { everyone: true };
  if (to === undefined || !to.includes(',')) return null;
  const peers = to.split(',').map((s) => s.trim()).filter(Boolean);
  if (peers.length === 0) throw new PigeonError(ErrorCodes.BAD_REQUEST, 'no recipient named');
  return { peers };
}

/** "a1b2c3d4… delivered to 2 of 3" and the list, one recipient a line. */
export function formatMultiSend(m: MultiSendInfo): string {
  const width = Math.max(...m.recipients.map((r) => r.name.length));
  const lines = m.recipients.map((r) => `  ${r.name.padEnd(width)}  ${r.state === 'relayed' ? 'on the relay' : r.state}`);
  return [`${m.id} delivered to ${m.delivered} of ${m.total}${m.read > 0 ? `, read by ${m.read}` : ''}`, ...lines].join('\n');
}

/** The note a history line of a multi-send copy carries. */
export function multiNote(m: { multi?: { id: string; total: number; delivered: number } }): string {
  return m.multi ? `  [to ${m.multi.total} people: delivered to ${m.multi.delivered} of ${m.multi.total}; pigeon recipients ${m.multi.id.slice(0, 8)}]` : '';
}

function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value) : human()) + '\n');
}

/** `pigeon send` to several people. */
export async function runMultiSend(home: string, to: Recipients, text: string, o: { at?: number; wait: boolean; timeout: number; json: boolean }): Promise<void> {
  await withClient(home, async (c) => {
    let m = await c.request('sendMulti', { to, text, ...(o.at !== undefined ? { at: o.at } : {}) });
    if (o.wait) m = await c.request('waitMulti', { id: m.id, timeoutMs: o.timeout * 1000 });
    print(o.json, m, () => formatMultiSend(m));
    if (o.wait && m.delivered < m.total) {
      throw new PigeonError(ErrorCodes.NOT_DELIVERED, `delivered to ${m.delivered} of ${m.total} within ${o.timeout} s; the other copies stay queued and go when each colleague is reachable`);
    }
  });
}

/** `pigeon recipients ID`: who got a message sent to several people. */
export async function runRecipients(home: string, id: string, o: { json: boolean }): Promise<void> {
  const m = await withClient(home, (c) => c.request('multiSend', { id }));
  print(o.json, m, () => formatMultiSend(m));
}

/**
 * `pigeon send-file` to several people: one transfer (offer) each. With
 * --wait, waits until every transfer ends and exits 0 only if all were
 * received (7 otherwise).
 */
export async function runSendFileMulti(home: string, to: Recipients, paths: string[], o: { wait: boolean; json: boolean; timeoutSeconds: number }): Promise<void> {
  await withClient(home, async (c) => {
    const peers = await c.request('recipients', { to });
    const absolute = paths.map((p) => resolve(p));
    const offered: Array<{ name: string; transfer: TransferInfo }> = [];
    for (const p of peers) offered.push({ name: p.name, transfer: await c.request('sendFiles', { peer: p.id, paths: absolute }) });
    let final = offered;
    if (o.wait) {
      final = await Promise.all(
        offered.map(async (x) => {
          try {
            return { name: x.name, transfer: await c.request('waitTransfer', { transfer: x.transfer.id, timeoutMs: o.timeoutSeconds * 1000 }) };
          } catch {
            const now = (await c.request('transfers', {})).find((t) => t.id === x.transfer.id);
            return { name: x.name, transfer: now ?? x.transfer };
          }
        }),
      );
    }
    const done = final.filter((x) => x.transfer.state === 'done' || x.transfer.state === 'relayed').length;
    print(o.json, final.map((x) => x.transfer), () =>
      [`${o.wait ? `received by ${done} of ${final.length}` : `offered to ${final.length}`}`, ...final.map((x) => `  ${formatTransfer(x.transfer, x.name)}`)].join('\n'),
    );
    if (o.wait && done < final.length) {
      const unfinished = final.filter((x) => !isFinishedTransfer(x.transfer.state) && x.transfer.state !== 'relayed').length;
      throw new PigeonError(unfinished > 0 ? ErrorCodes.NOT_DELIVERED : ErrorCodes.TRANSFER_FAILED, `received by ${done} of ${final.length}`);
    }
  });
}
