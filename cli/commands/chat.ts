/**
 * `pigeon chat <peer>`: an interactive conversation in the terminal through
 * the running peer. Shows recent history, prints incoming messages and
 * delivery marks as they happen, sends each line typed. Slash commands
 * (chat-commands.ts): /help, /file PATH, /quit; Ctrl-D ends too. With --json,
 * stdout carries one JSON object per line (history, events, what was sent)
 * and everything said to the person goes to stderr.
 */
import { resolve } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { MessageInfo, PeerEvent, TransferInfo } from '../../shared/api/control-api.js';
import { ControlClient } from '../control-client.js';
import { clock, formatMessage, formatTransfer } from '../format.js';
import { CHAT_HELP, parseChatLine } from './chat-commands.js';

/** Lines of history shown when the chat opens. */
const BACKLOG = 20;

export async function runChat(home: string, query: string, o: { json?: boolean } = {}): Promise<void> {
  const json = o.json === true;
  const client = await ControlClient.connect(home);
  const peers = await client.request('peers', {});
  const history = await client.request('history', { peer: query, limit: BACKLOG, markRead: true });
  const q = query.toLowerCase();
  const target = peers.find((p) => p.id === history[0]?.peer) ?? peers.find((p) => p.name === query) ?? peers.find((p) => p.name.toLowerCase() === q || p.id.startsWith(q));
  // A group: its conversation is group:<id>, and each line names its author.
  const bare = query.replace(/^group:/, '');
  const group = target ? undefined : (await client.request('groups', {})).find((g) => `group:${g.id}` === history[0]?.peer || g.name === bare || (bare.length >= 8 && g.id.startsWith(bare)));
  const peerId = target?.id ?? (group ? `group:${group.id}` : (history[0]?.peer ?? ''));
  const name = target?.name ?? group?.name ?? query;
  const author = (id: string | null | undefined): string => peers.find((p) => p.id === id)?.name ?? id?.slice(0, 8) ?? '?';
  let rl: Interface | null = null;
  /** A line for the person: stdout, or stderr under --json (stdout is for JSON then). */
  const say = (line: string): void => {
    const out = json ? process.stderr : process.stdout;
    if (process.stdin.isTTY && !json) {
      out.write('\r\x1b[K' + line + '\n');
      rl?.prompt(true);
    } else out.write(line + '\n');
  };
  const emit = (value: unknown): void => void process.stdout.write(JSON.stringify(value) + '\n');
  const offline = group ? '' : target?.online ? '' : ' (offline: messages wait in the outbox)';
  say(`Chat with ${group ? `the group ${name}` : name}${offline}. Type a message and press Enter; /help for commands, /quit to leave.`);
  for (const m of history) {
    if (json) emit({ type: 'history', message: m });
    else process.stdout.write(formatMessage(m, name, author) + '\n');
  }
  await client.subscribe((e: PeerEvent) => {
    const mine =
      ((e.type === 'message' || e.type === 'message-state') && e.message.peer === peerId) ||
      ((e.type === 'peer-online' || e.type === 'peer-offline' || e.type === 'peer-updated') && e.peer.id === peerId) ||
      (e.type === 'transfer' && e.transfer.peer === peerId);
    if (!mine) return;
    if (e.type === 'message') void client.request('markRead', { peer: peerId }).catch(() => {});
    if (json) return emit(e);
    if (e.type === 'message') {
      say(`${clock(e.message.ts)} ${group ? author(e.message.from) : name}: ${e.message.text}`);
    } else if (e.type === 'message-state' && (e.message.state === 'delivered' || e.message.state === 'read')) {
      say(`  ✓ ${e.message.state}: ${e.message.text.slice(0, 40)}`);
    } else if (e.type === 'peer-online' || e.type === 'peer-offline' || e.type === 'peer-updated') {
      say(`  ${name} is ${e.peer.online ? e.peer.status : 'offline'}${e.peer.away ? ` (${e.peer.away})` : ''}`);
    } else if (e.type === 'transfer') {
      say(`  ${formatTransfer(e.transfer, name)}`);
    }
  });
  // Created only now: lines piped in before the subscription would be lost.
  const input = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY && !json });
  rl = input;
  input.setPrompt('> ');
  const prompt = (): void => {
    if (process.stdin.isTTY && !json) input.prompt();
  };
  prompt();
  await new Promise<void>((resolvePromise) => {
    // Lines are handled one after another so that the order typed is the order stored.
    let chain: Promise<unknown> = Promise.resolve();
    const then = (work: () => Promise<void>): void => {
      chain = chain.then(work).then(prompt);
    };
    // Lines read in the same chunk as /quit still arrive after close(): they are dropped, never sent.
    let quit = false;
    input.on('line', (line) => {
      if (quit) return;
      const cmd = parseChatLine(line);
      switch (cmd.kind) {
        case 'empty':
          return prompt();
        case 'quit':
          quit = true;
          return input.close();
        case 'help':
          return then(async () => say(CHAT_HELP));
        case 'error':
          return then(async () => say(`  ${cmd.message}`));
        case 'file':
          return then(() =>
            client.request('sendFiles', { peer: peerId || query, paths: cmd.paths.map((p) => resolve(p)) }).then(
              (t: TransferInfo) => {
                if (json) emit({ type: 'sent-files', transfer: t });
                say(`  ${formatTransfer(t, name)}; it continues in the background (pigeon transfers ${t.id.slice(0, 8)})`);
              },
              (err: Error) => say(`  not sent: ${err.message}`),
            ),
          );
        case 'message':
          return then(() =>
            client.request('send', { peer: peerId || query, text: cmd.text }).then(
              (m: MessageInfo) => {
                if (json) emit({ type: 'sent', message: m });
                else if (!process.stdin.isTTY) say(`  queued ${m.id}`);
                if (m.warning) say(`  warning: ${m.warning.message}`);
                else if (m.queuedReason) say(`  queued: ${m.queuedReason}`);
              },
              (err: Error) => say(`  not sent: ${err.message}`),
            ),
          );
      }
    });
    input.on('close', () => void chain.then(() => resolvePromise()));
    client.onClose(() => {
      say('The peer stopped.');
      input.close();
    });
  });
  client.close();
}
