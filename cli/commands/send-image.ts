/**
 * `pigeon send-image <peer> <file>`: sends one PNG, JPEG, GIF or WebP file as
 * a picture (spec §13.8): the colleague's Pigeon takes it without asking and
 * shows it inline. A file that is no picture, or bigger than the picture
 * limit, is refused with the reason and the command to send it as a file;
 * to an IPMsg contact the picture goes as an ordinary file. `--wait` waits
 * until the colleague has it.
 */
import { resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { withClient } from '../control-client.js';
import { formatTransfer } from '../format.js';

export function sendImageCommand(program: Command, o: { homeOption: () => Option; resolveHome: (h?: string) => string; seconds: (v: string) => number }): void {
  program
    .command('send-image')
    .description('send a picture (PNG, JPEG, GIF or WebP, at most 16 MiB), shown inline on the other side')
    .argument('<peer>', 'name or device-id prefix')
    .argument('<file>', 'the picture file')
    .addOption(o.homeOption())
    .option('--wait', 'wait until the colleague has the picture', false)
    .option('--timeout <seconds>', 'how long --wait waits (default: 10 minutes)', o.seconds, 600)
    .option('--json', 'print the transfer as JSON', false)
    .action(async (peer: string, file: string, opts: { home?: string; wait: boolean; timeout: number; json: boolean }) => {
      await withClient(o.resolveHome(opts.home), async (c) => {
        let t = await c.request('sendPicture', { peer, path: resolve(file) });
        if (opts.wait) t = await c.request('waitTransfer', { transfer: t.id, timeoutMs: opts.timeout * 1000 });
        process.stdout.write(opts.json ? JSON.stringify(t) + '\n' : `picture ${formatTransfer(t, peer).replace(/^transfer /, '')}\n`);
        if (opts.wait && t.state !== 'done') throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `the picture was not delivered: ${t.state}${t.error ? ` (${t.error})` : ''}`);
      });
    });
}
