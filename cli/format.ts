/**
 * Human-readable output of the CLI: peer tables, history lines and event
 * lines. `--json` output bypasses this module entirely.
 */
import type { MessageInfo, PeerEvent, PeerInfo, SelfInfo } from '../shared/api/control-api.js';

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

export function formatPeers(peers: PeerInfo[]): string {
  if (peers.length === 0) return 'No peers known yet. Others on the LAN appear here within seconds of starting.';
  const rows = peers.map((p) => [p.name, p.group, presence(p), p.host, p.addresses.join(',') || '-', p.id.slice(0, 10)]);
  const head = ['NAME', 'GROUP', 'STATUS', 'HOST', 'ADDRESS', 'ID'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

const STATE_MARK: Record<string, string> = { scheduled: 'scheduled', queued: 'queued', sent: 'sent', delivered: 'delivered', read: 'read', received: 'unread' };

export function formatMessage(m: MessageInfo, peerName: string): string {
  const who = m.direction === 'out' ? 'me' : peerName;
  const when = m.state === 'scheduled' && m.due ? `due ${time(m.due)}` : time(m.ts);
  return `[${when}] ${who}: ${m.text}  (${STATE_MARK[m.state] ?? m.state})`;
}

export function formatSelf(s: SelfInfo): string {
  return [
    `name:        ${s.name}`,
    `group:       ${s.group}`,
    `device id:   ${s.id}`,
    `fingerprint: ${s.fingerprint}`,
    s.port ? `port:        ${s.port}` : '',
    `status:      ${s.status}${s.away ? ` (${s.away})` : ''}`,
  ]
    .filter(Boolean)
    .join('\n');
}

/** One line for the foreground peer's log, or null for events not worth a line. */
export function formatEvent(e: PeerEvent, nameOf: (id: string) => string): string | null {
  const at = clock(Date.now());
  switch (e.type) {
    case 'listening':
      return `${at} ${e.self.name} is online (id ${e.self.id}, port ${e.self.port})`;
    case 'peer-online':
      return `${at} ${e.peer.name}${e.peer.group ? ` (${e.peer.group})` : ''} is online at ${e.peer.addresses[0] ?? '?'}`;
    case 'peer-offline':
      return `${at} ${e.peer.name} is offline`;
    case 'peer-updated':
      return `${at} ${e.peer.name} is ${presence(e.peer)}`;
    case 'message':
      return `${at} ${nameOf(e.message.peer)}: ${e.message.text}`;
    case 'message-state':
      return e.message.state === 'delivered' || e.message.state === 'read' ? `${at} message ${e.message.id.slice(0, 8)} to ${nameOf(e.message.peer)}: ${e.message.state}` : null;
    case 'key-changed':
      return `${at} WARNING: ${e.name || e.peerId} presented a different key (pinned ${e.pinned}, presented ${e.presented}); refused. If this is expected, run: pigeon trust ${e.peerId}`;
    case 'warning':
      return `${at} warning: ${e.message}`;
  }
}
