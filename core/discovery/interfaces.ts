/**
 * The machine's IPv4 interfaces suitable for LAN discovery, and their directed
 * broadcast addresses. Real office PCs have several (cable, Wi-Fi, VPN,
 * Docker); all are used.
 */
import { networkInterfaces } from 'node:os';

export interface LanInterface {
  name: string;
  address: string;
  netmask: string;
  broadcast: string;
}

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => ((acc << 8) | Number(part)) >>> 0, 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function directedBroadcast(address: string, netmask: string): string {
  return toIp((toInt(address) | ~toInt(netmask)) >>> 0);
}

/** Non-loopback IPv4 interfaces with their broadcast addresses. */
export function lanInterfaces(): LanInterface[] {
  const out: LanInterface[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      out.push({ name, address: a.address, netmask: a.netmask, broadcast: directedBroadcast(a.address, a.netmask) });
    }
  }
  return out;
}

/**
 * Where LAN broadcasts go: a given list as is, or for 'auto' the broadcast
 * address of every interface plus 255.255.255.255 (which some networks
 * deliver only on the default route's interface).
 */
export function broadcastAddresses(setting: 'auto' | readonly string[]): string[] {
  return setting === 'auto' ? [...new Set([...lanInterfaces().map((i) => i.broadcast), '255.255.255.255'])] : [...setting];
}
