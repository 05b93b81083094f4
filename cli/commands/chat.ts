/**
 * `pigeon chat <peer>`: an interactive conversation in the terminal through
 * the running peer. Shows recent history, prints incoming messages and
 * delivery marks as they happen, sends each line typed. /quit or Ctrl-D ends.
 */
import { createInterface, type Interface } from 'node:readline';
import type { MessageInfo, PeerEvent } from '../../shared/api/control-api.js';
import { ControlClient } from '../control-client.js';
import { clock, formatMessage } from '../format.js';

/** Lines of history shown when the chat opens. */
const BACKLOG = 20;

export async function runChat(home: string, query: string): Promise<void> {
  const client = await ControlClient.connect(home);
  const peers = await client.request('peers', {});
  const history = await client.request('history', { peer: query, limit: BACKLOG, markRead: true });
  const target = peers.find((p) => p.id === history[0]?.peer) ?? peers.find((p) => p.name === query || p.id.startsWith(query.toLowerCase()));
  // A group: its conversation is group:<id>, and each line names its author.
  const bare = query.replace(/^group:/, '');
  const group = target ? undefined : (await client.request('groups', {})).find((g) => `group:${g.id}` === history[0]?.peer || g.name === bare || (bare.length >= 8 && g.id.startsWith(bare)));
  const peerId = target?.id ?? (group ? `group:${group.id}` : (history[0]?.peer ?? ''));
  const name = target?.name ?? group?.name ?? query;
  const author = (id: string | null | undefined): string => peers.find((p) => p.id === id)?.name ?? id?.slice(0, 8) ?? '?';
  let rl: Interface | null = null;
  const say = (line: string): void => {
    if (process.stdin.isTTY) {
      process.stdout.write('\r\x1b[K' + line + '\n');
      rl?.prompt(true);
    } else process.stdout.write(line + '\n');
  };
  const offline = group ? '' : target?.online ? '' : ' (offline: messages wait in the outbox)';
  process.stdout.write(`Chat with ${group ? `the group ${name}` : name}${offline}. Type a message and press Enter; /quit to leave.\n`);
  for (const m of history) process.stdout.write(formatMessage(m, name, author) + '\n');
  await client.subscribe((e: PeerEvent) => {
    if (e.type === 'message' && e.message.peer === peerId) {
      say(`${clock(e.message.ts)} ${group ? author(e.message.from) : name}: ${e.message.text}`);
      void client.request('markRead', { peer: peerId }).catch(() => {});
    } else if (e.type === 'message-state' && e.message.peer === peerId && (e.message.state === 'delivered' || e.message.state === 'read')) {
      say(`  ✓ ${e.message.state}: ${e.message.text.slice(0, 40)}`);
    } else if ((e.type === 'peer-online' || e.type === 'peer-offline' || e.type === 'peer-updated') && e.peer.id === peerId) {
      say(`  ${name} is ${e.peer.online ? e.peer.status : 'offline'}${e.peer.away ? ` (${e.peer.away})` : ''}`);
    }
  });
  // Created only now: lines piped in before the subscription would be lost.
  const input = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
  rl = input;
  input.setPrompt('> ');
  if (process.stdin.isTTY) input.prompt();
  await new Promise<void>((resolve) => {
    // Lines are sent one after another so that the order typed is the order stored.
    let chain: Promise<unknown> = Promise.resolve();
    input.on('line', (line) => {
      const text = line.trim();
      if (text === '/quit') return input.close();
      if (text === '') return input.prompt();
      chain = chain.then(() =>
        client.request('send', { peer: peerId || query, text: line }).then(
          (m: MessageInfo) => {
            if (!process.stdin.isTTY) say(`  queued ${m.id}`);
            else input.prompt();
          },
          (err: Error) => say(`  not sent: ${err.message}`),
        ),
      );
    });
    input.on('close', () => void chain.then(() => resolve()));
    client.onClose(() => {
      say('The peer stopped.');
      input.close();
    });
  });
  client.close();
}
