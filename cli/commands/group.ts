/**
 * `pigeon group create|add|remove|leave|list`: group conversations, carried
 * by the relay, or member to member on the LAN when no relay is set. Members are named as for `send` (name or device-id prefix);
 * messages go with `pigeon send <group> <text>` and read with
 * `pigeon history <group>`.
 */
import { Command, type Option } from 'commander';
import type { GroupInfo, MessageInfo } from '../../shared/api/control-api.js';
import { withClient } from '../control-client.js';
import { formatGroup, formatGroups } from '../format.js';
import { resolveHome } from '../home.js';

type Opts = { home?: string; json: boolean };

export function groupCommand(homeOption: () => Option): Command {
  // --home is taken before or after the subcommand: `pigeon group --home P list` and `pigeon group list --home P`.
  const group = new Command('group').description('group conversations (through the relay, or on the LAN): create, add, remove, leave, list (--json on each of them)').addOption(homeOption());
  const home = (o: Opts): string => resolveHome(o.home ?? (group.opts() as { home?: string }).home);
  const show = (o: Opts, g: GroupInfo): void => {
    process.stdout.write((o.json ? JSON.stringify(g) : formatGroup(g)) + '\n');
  };
  const sub = (name: string, description: string): Command => group.command(name).description(description).addOption(homeOption()).option('--json', 'print JSON', false);

  sub('create', 'create a group with you and these members')
    .argument('<name>', 'group name')
    .argument('[members...]', 'names or device-id prefixes')
    .action(async (name: string, members: string[], o: Opts) => {
      show(o, await withClient(home(o), (c) => c.request('groupCreate', { name, members })));
    });
  sub('add', 'add members to a group (any member may)')
    .argument('<group>', 'group name or id')
    .argument('<members...>', 'names or device-id prefixes')
    .action(async (g: string, members: string[], o: Opts) => {
      show(o, await withClient(home(o), (c) => c.request('groupAdd', { group: g, members })));
    });
  sub('remove', "remove a member (the group's owner only)")
    .argument('<group>', 'group name or id')
    .argument('<member>', 'name or device-id prefix')
    .action(async (g: string, member: string, o: Opts) => {
      show(o, await withClient(home(o), (c) => c.request('groupRemove', { group: g, member })));
    });
  sub('leave', 'leave a group (its history stays here)')
    .argument('<group>', 'group name or id')
    .action(async (g: string, o: Opts) => {
      show(o, await withClient(home(o), (c) => c.request('groupLeave', { group: g })));
    });
  sub('list', 'your groups with their members').action(async (o: Opts) => {
    const list = await withClient(home(o), (c) => c.request('groups', {}));
    process.stdout.write((o.json ? JSON.stringify(list) : formatGroups(list)) + '\n');
  });
  return group;
}

/**
 * What `send --wait` adds when a message is stored rather than delivered
 * (issue 14 item 5): on the relay for a colleague offline everywhere or for
 * a group, or in this device's group log for a group on the LAN (§12.10).
 */
export function storedNote(m: MessageInfo): string {
  const id = m.id.slice(0, 8);
  if (m.group !== undefined && m.state === 'sent') return `\n${id} is stored in this device's group log: every member gets it from any member that is online when they are`;
  if (m.group !== undefined && m.state === 'relayed') return ' (stored on the relay for every member)';
  if (m.group !== undefined && (m.state === 'delivered' || m.state === 'read')) return ' (every member holds it: they got it over the LAN before the relay stored it)';
  if (m.state === 'relayed') return `\n${id} is stored on the relay: the colleague is offline; it is delivered when they connect`;
  return '';
}
