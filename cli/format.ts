/**
 * Human-readable output of the CLI: peer tables, history lines and event
 * lines. `--json` output bypasses this module entirely.
 */
import type { GroupInfo, MessageInfo, PeerEvent, PeerInfo, SelfInfo, TransferInfo } from '../shared/api/control-api.js';
import { formatSize } from '../shared/format/format-size.js';
import { progressLine } from './progress.js';

function time(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(ms: number): string {
  return time(ms).slice(11);
}

function presence(p: PeerInfo): string {
  if (!p.online) return 'offline';
  return p.away ? `${p.status} (${p.away})` : p.status;
}

/** How a peer is reached, said plainly: IPMsg contacts are not encrypted and users must know it. */
export function peerKind(p: PeerInfo): string {
  if (p.protocol === 'ipmsg') return 'IPMsg (unencrypted)';
  if (p.protocol === 'localsend') return `LocalSend ${p.fingerprint.slice(0, 16)}`;
  if (p.keyChanged) return `Pigeon, KEY CHANGED (new ${p.keyChanged.id.slice(0, 8)}: pigeon trust)`;
  if (p.namesakeOf) return `new device calling itself ${p.name} (${p.fingerprint.slice(0, 19)})`;
  return p.remote ? 'Pigeon via relay' : 'Pigeon';
}

export function formatPeers(peers: PeerInfo[]): string {
  if (peers.length === 0) return 'No peers known yet. Others on the LAN appear here within seconds of starting.';
  const rows = peers.map((p) => [p.name, p.group, presence(p), p.host, p.remote ? 'via relay' : p.addresses.join(',') || '-', peerKind(p), p.id.slice(0, 10)]);
  const head = ['NAME', 'GROUP', 'STATUS', 'HOST', 'ADDRESS', 'KIND', 'ID'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const STATE_MARK: Record<string, string> = { scheduled: 'scheduled', queued: 'queued', sent: 'sent', relayed: 'stored on the relay', delivered: 'delivered', read: 'read', received: 'unread' };

/**
 * Received this much after it was written, a history line shows when it was
 * received too: lines show whole seconds, so a smaller gap is not worth a word.
 */
const LATE_MS = 1000;

/** When an incoming message arrived, if that is worth saying: the clock on the same day, the full time otherwise. */
function receivedNote(m: MessageInfo): string {
  if (m.received === null || Math.abs(m.received - m.ts) < LATE_MS) return '';
  const sameDay = time(m.received).slice(0, 10) === time(m.ts).slice(0, 10);
  return `, received ${sameDay ? clock(m.received) : time(m.received)}`;
}

/**
 * One history line, stamped with the time the message was written (and the
 * time it was received, when later); in a group, `nameOf` names the member
 * who wrote an incoming message.
 */
export function formatMessage(m: MessageInfo, peerName: string, nameOf?: (id: string) => string): string {
  const who = m.direction === 'out' ? 'me' : m.from && nameOf ? nameOf(m.from) : peerName;
  const when = m.state === 'scheduled' && m.due ? `due ${time(m.due)}` : time(m.ts);
  const blocked = m.warning?.code === 'PIGEON_ERR_KEY_CHANGED' ? ', blocked: key changed' : m.queuedReason ? `: ${m.queuedReason}` : '';
  return `[${when}] ${who}: ${m.text}  (${STATE_MARK[m.state] ?? m.state}${blocked}${receivedNote(m)}${groupReceiptNote(m)})`;
}

/** A LAN group message of ours: ", read by 2 of 4" (or delivered to, when nobody read it yet); names with --json. */
function groupReceiptNote(m: MessageInfo): string {
  const r = m.receipts;
  if (!r || r.of === 0) return '';
  return r.read.length > 0 ? `, read by ${r.read.length} of ${r.of}` : `, delivered to ${r.delivered.length} of ${r.of}`;
}

export function formatSelf(s: SelfInfo): string {
  return [
    `name:        ${s.name}`,
    `group:       ${s.group}`,
    `device id:   ${s.id}`,
    `fingerprint: ${s.fingerprint}`,
    s.port ? `port:        ${s.port}` : '',
    `status:      ${s.status}${s.away ? ` (${s.away})` : ''}`,
    s.relay ? `relay:       ${s.relay.url} ${s.relay.connected ? 'connected' : `not connected${s.relay.error ? `: ${s.relay.error}` : ''}${s.relay.code ? ` [${s.relay.code}]` : ''}`}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** "at 192.168.1.7", or "via the relay" for a peer known only from the relay (it has no LAN address). */
export function onlineWhere(p: PeerInfo): string {
  const address = p.addresses[0];
  if (address !== undefined) return `at ${address}`;
  return p.remote || p.sources.includes('relay') ? 'via the relay' : '(address not known yet)';
}

/** One line for the foreground peer's log, or null for events not worth a line. */
export function formatEvent(e: PeerEvent, nameOf: (id: string) => string): string | null {
  const at = clock(Date.now());
  switch (e.type) {
    case 'listening':
      return `${at} ${e.self.name} is online (id ${e.self.id}, port ${e.self.port})`;
    case 'peer-online':
      return `${at} ${e.peer.name}${e.peer.group ? ` (${e.peer.group})` : ''} is online ${onlineWhere(e.peer)}${e.peer.protocol === 'ipmsg' ? ' [IPMsg (unencrypted)]' : e.peer.protocol === 'localsend' ? ' [LocalSend]' : ''}`;
    case 'peer-offline':
      return `${at} ${e.peer.name} is offline`;
    case 'peer-updated':
      return `${at} ${e.peer.name} is ${presence(e.peer)}`;
    case 'message':
      if (e.message.group) return `${at} [${nameOf(e.message.peer)}] ${nameOf(e.message.from ?? '')}: ${e.message.text}`;
      return `${at} ${nameOf(e.message.peer)}: ${e.message.text}`;
    case 'message-state':
      return e.message.state === 'delivered' || e.message.state === 'read' ? `${at} message ${e.message.id.slice(0, 8)} to ${nameOf(e.message.peer)}: ${e.message.state}` : null;
    case 'key-changed':
      return `${at} WARNING: ${e.name || e.peerId} presented a different key (pinned ${e.pinned}, presented ${e.presented}); refused. If this is expected, run: pigeon trust ${e.peerId}`;
    case 'warning':
      return `${at} warning: ${e.message}`;
    case 'transfer':
      return `${at} ${formatTransfer(e.transfer, nameOf(e.transfer.peer))}`;
    case 'transfer-progress':
      return null;
    case 'relay':
      return `${at} relay ${e.relay.url}: ${e.relay.connected ? 'connected' : `not connected${e.relay.error ? ` (${e.relay.error})` : ''}${e.relay.code ? ` [${e.relay.code}]` : ''}`}`;
    case 'group':
      return `${at} ${formatGroup(e.group)}`;
    case 'multi-send':
      return null;
  }
}

/** "Sales (3f2a9c01): you, Bob, Carol" — or "(you left)"; a tampered group says so. */
export function formatGroup(g: GroupInfo): string {
  const owner = g.members.find((m) => m.id === g.owner)?.name;
  const tampered = g.tampered ? ` [TAMPERED: the relay's member list did not verify (${g.tampered}); messages go to the members shown]` : '';
  return `group ${g.name} (${g.id.slice(0, 8)}): ${g.joined ? g.members.map((m) => m.name).join(', ') : 'you left'}${g.joined && owner ? `; owner ${owner}` : ''}${tampered}`;
}

export function formatGroups(list: GroupInfo[]): string {
  if (list.length === 0) return 'No groups. Create one with: pigeon group create <name> <member>...';
  return list.map(formatGroup).join('\n');
}

/** "12.3 MB": the formatter the UI uses too (shared/format/format-size.ts). */
export function bytes(n: number): string {
  return formatSize(n);
}

/** "3 files" / "1 file"; with a partial accept, "3 of 9 files": what was taken, on both sides. */
export function fileCountText(t: TransferInfo): string {
  const taken = t.acceptedFiles;
  if (taken !== undefined) return `${taken} of ${t.fileCount} ${t.fileCount === 1 ? 'file' : 'files'}`;
  return `${t.fileCount} ${t.fileCount === 1 ? 'file' : 'files'}`;
}

function what(t: TransferInfo): string {
  const first = t.names[0] ?? 'files';
  const more = t.fileCount > 1 || t.acceptedFiles !== undefined ? ` (${fileCountText(t)})` : '';
  const size = t.acceptedBytes !== undefined ? `${bytes(t.acceptedBytes)} of ${bytes(t.totalBytes)}` : bytes(t.totalBytes);
  return `${first}${t.names.length > 1 ? ` and ${t.names.length - 1} more` : ''}${more}, ${size}`;
}

export function formatTransfer(t: TransferInfo, peerName: string): string {
  const arrow = t.direction === 'out' ? `to ${peerName}` : `from ${peerName}`;
  const tail = t.state === 'offered' && t.direction === 'in' ? ` — accept with: pigeon accept ${t.id.slice(0, 8)}` : '';
  const state = t.state === 'relayed' ? 'stored on the relay' : t.state;
  return `transfer ${t.id.slice(0, 8)} ${arrow}: ${what(t)}: ${state}${t.error ? ` (${t.error})` : ''}${tail}`;
}

/** The transfer list; an accepted transfer gets its progress line, fitted to `columns`. */
export function formatTransfers(list: TransferInfo[], nameOf: (id: string) => string, columns?: number): string {
  if (list.length === 0) return 'No transfers.';
  return list.map((t) => `${formatTransfer(t, nameOf(t.peer))}${t.state === 'accepted' ? `\n    ${progressLine(t, columns === undefined ? undefined : columns - 4)}` : ''}`).join('\n');
}
