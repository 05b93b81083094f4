/**
 * `pigeon scheduled [list] | cancel ID | edit ID --at TIME --text TEXT`:
 * messages written with `send --at` that have not gone out yet (spec §7.9).
 * An id is a message id, a multi-send id (all its copies), or a unique
 * prefix of either. A new time that means tomorrow is confirmed first, as
 * for `send --at` (schedule-confirm.ts).
 */
import { Command, type Option } from 'commander';
import type { MessageInfo, PeerInfo } from '../../shared/api/control-api.js';
import { withClient } from '../control-client.js';
import { resolveHome } from '../home.js';
import { confirmedTime } from '../schedule-confirm.js';

type Opts = { home?: string; json: boolean };

function when(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** One line per scheduled message (copies of one multi-send on one line): id, due time, recipients, text. */
export function formatScheduled(list: MessageInfo[], peers: PeerInfo[]): string {
  if (list.length === 0) return 'No scheduled messages. Schedule one with: pigeon send <peer> <text> --at 17:30';
  const nameOf = (id: string): string => (id.startsWith('group:') ? 'group' : (peers.find((p) => p.id === id)?.name ?? id.slice(0, 8)));
  const rows = new Map<string, { due: number; to: string[]; text: string }>();
  for (const m of list) {
    const key = m.multi?.id ?? m.id;
    const row = rows.get(key) ?? { due: m.due ?? m.ts, to: [], text: m.text };
    row.to.push(nameOf(m.peer));
    rows.set(key, row);
  }
  return [...rows].map(([id, r]) => `${id.slice(0, 8)}  ${when(r.due)}  to ${r.to.join(', ')}: ${r.text}`).join('\n');
}

export function scheduledCommand(homeOption: () => Option): Command {
  const cmd = new Command('scheduled').description('messages scheduled with send --at: list, cancel, edit').addOption(homeOption());
  const home = (o: Opts): string => resolveHome(o.home ?? (cmd.opts() as { home?: string }).home);
  const sub = (name: string, description: string, opts: { isDefault?: boolean } = {}): Command =>
    cmd.command(name, opts).description(description).addOption(homeOption()).option('--json', 'print JSON', false);
  const show = (o: Opts, list: MessageInfo[], peers: PeerInfo[], verb: string): void => {
    process.stdout.write((o.json ? JSON.stringify(list) : `${verb}${formatScheduled(list, peers)}`) + '\n');
  };

  sub('list', 'the scheduled messages, soonest first (the default)', { isDefault: true }).action(async (o: Opts) => {
    await withClient(home(o), async (c) => show(o, await c.request('scheduled', {}), await c.request('peers', {}), ''));
  });
  sub('cancel', 'cancel a scheduled message (nothing is sent)')
    .argument('<id>', 'id or id prefix, as pigeon scheduled shows it')
    .action(async (id: string, o: Opts) => {
      await withClient(home(o), async (c) => show(o, await c.request('scheduledCancel', { id }), await c.request('peers', {}), 'cancelled: '));
    });
  sub('edit', 'change the time and/or the text of a scheduled message')
    .argument('<id>', 'id or id prefix, as pigeon scheduled shows it')
    .option('--at <time>', 'new time: ISO date-time, clock time (17:30) or delay (+10m)')
    .option('--text <text>', 'new text')
    .option('--yes', 'accept a clock time that means tomorrow without asking', false)
    .action(async (id: string, o: Opts & { at?: string; text?: string; yes: boolean }) => {
      const at = o.at !== undefined ? await confirmedTime(o.at, o.yes) : undefined;
      await withClient(home(o), async (c) => {
        const edited = await c.request('scheduledEdit', { id, ...(at !== undefined ? { at } : {}), ...(o.text !== undefined ? { text: o.text } : {}) });
        show(o, edited, await c.request('peers', {}), 'now: ');
      });
    });
  return cmd;
}
