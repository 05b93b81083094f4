/**
 * Test support: the UDP datagram counters of a network namespace, read from
 * /proc/<pid>/net/snmp and /proc/<pid>/net/netstat of any process inside it
 * (both files are per namespace). Discovery is the only UDP a headless peer
 * sends without IPMsg, so these count discovery datagrams: broadcast
 * announcements, unicast replies and refreshes, and mDNS (multicast).
 */
import { readFileSync } from 'node:fs';

export interface UdpCounters {
  /** UDP datagrams sent from the namespace (Udp OutDatagrams). */
  out: number;
  /** UDP datagrams delivered to a socket in the namespace (Udp InDatagrams). */
  in: number;
  /** IP broadcast packets sent (IpExt OutBcastPkts): directed-broadcast announcements. */
  outBroadcast: number;
  /** IP multicast packets sent (IpExt OutMcastPkts): mDNS, plus the odd IGMP report. */
  outMulticast: number;
}

export const ZERO_COUNTERS: UdpCounters = { out: 0, in: 0, outBroadcast: 0, outMulticast: 0 };

/** The value of `field` in the `prefix:` header/value line pair of a /proc/net table. */
function field(text: string, prefix: string, name: string): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${prefix}:`));
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    const at = names.indexOf(name);
    if (at > 0) return Number(values[at]);
  }
  return 0;
}

/** Counters of the namespace `pid` lives in. Throws if the process is gone. */
export function udpCounters(pid: number): UdpCounters {
  const snmp = readFileSync(`/proc/${pid}/net/snmp`, 'utf8');
  const netstat = readFileSync(`/proc/${pid}/net/netstat`, 'utf8');
  return {
    out: field(snmp, 'Udp', 'OutDatagrams'),
    in: field(snmp, 'Udp', 'InDatagrams'),
    outBroadcast: field(netstat, 'IpExt', 'OutBcastPkts'),
    outMulticast: field(netstat, 'IpExt', 'OutMcastPkts'),
  };
}

export function addCounters(a: UdpCounters, b: UdpCounters): UdpCounters {
  return { out: a.out + b.out, in: a.in + b.in, outBroadcast: a.outBroadcast + b.outBroadcast, outMulticast: a.outMulticast + b.outMulticast };
}

export function subCounters(a: UdpCounters, b: UdpCounters): UdpCounters {
  return { out: a.out - b.out, in: a.in - b.in, outBroadcast: a.outBroadcast - b.outBroadcast, outMulticast: a.outMulticast - b.outMulticast };
}

export function sumCounters(list: UdpCounters[]): UdpCounters {
  return list.reduce(addCounters, ZERO_COUNTERS);
}
