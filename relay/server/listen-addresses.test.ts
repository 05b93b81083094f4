import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { onboardingText, peerCommand, reachableUrls } from './listen-addresses.js';

function info(address: string, internal = false): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return { address, internal, family: v6 ? 'IPv6' : 'IPv4', netmask: v6 ? 'ffff:ffff:ffff:ffff::' : '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null, ...(v6 ? { scopeid: 0 } : {}) } as NetworkInterfaceInfo;
}

/** An office PC: loopback listed first by the OS, a wired and a wireless LAN, link-local addresses on both. */
const office = {
  lo: [info('127.0.0.1', true), info('::1', true)],
  eth0: [info('192.168.1.20'), info('fd00::20'), info('fe80::1c2:3ff:fe45:6789'), info('169.254.7.1')],
  wlan0: [info('10.0.5.9'), info('FE80::2')],
};

describe('reachableUrls', () => {
  it('lists every IPv4 LAN address for 0.0.0.0, loopback last, and leaves out link-local and IPv6', () => {
    expect(reachableUrls('0.0.0.0', 8443, office)).toEqual([
      { url: 'wss://192.168.1.20:8443', iface: 'eth0', local: false },
      { url: 'wss://10.0.5.9:8443', iface: 'wlan0', local: false },
      { url: 'wss://127.0.0.1:8443', iface: 'lo', local: true },
    ]);
  });

  it('adds IPv6 addresses in brackets for ::, after the IPv4 ones', () => {
    expect(reachableUrls('::', 8443, office).map((u) => u.url)).toEqual([
      'wss://192.168.1.20:8443',
      'wss://10.0.5.9:8443',
      'wss://[fd00::20]:8443',
      'wss://127.0.0.1:8443',
      'wss://[::1]:8443',
    ]);
  });

  it('gives only the address it was told to listen on', () => {
    expect(reachableUrls('192.168.1.20', 9000, office)).toEqual([{ url: 'wss://192.168.1.20:9000', iface: '', local: false }]);
    expect(reachableUrls('127.0.0.1', 9000, office)).toEqual([{ url: 'wss://127.0.0.1:9000', iface: '', local: true }]);
  });
});

describe('the command for colleagues', () => {
  const fp = '1f0a 9c3e 7b21 0000 1111 2222 3333 4444 5555 6666 7777 8888 9999 aaaa bbbb cccc';

  it('carries the fingerprint without spaces (no quoting in any shell) and a token file, never a token', () => {
    expect(peerCommand('wss://192.168.1.20:8443', fp, true)).toBe(
      'pigeon peer --relay wss://192.168.1.20:8443 --relay-fingerprint 1f0a9c3e7b210000111122223333444455556666777788889999aaaabbbbcccc --relay-token-file ~/.pigeon-relay-token',
    );
    expect(peerCommand('wss://192.168.1.20:8443', fp, false)).not.toContain('token');
  });

  it('uses the first LAN address, and says how to keep the token out of the shell history', () => {
    const text = onboardingText(reachableUrls('0.0.0.0', 8443, office), fp, true);
    const lines = text.trimEnd().split('\n');
    expect(lines.at(-1)).toBe(`  ${peerCommand('wss://192.168.1.20:8443', fp, true)}`);
    expect(text).toContain('(this machine only)');
    expect(text).toMatch(/not printed here/);
    expect(text).toMatch(/shell history/);
    expect(text).not.toContain('0.0.0.0');
  });

  it('falls back to loopback when the machine has no LAN address', () => {
    const text = onboardingText(reachableUrls('0.0.0.0', 8443, { lo: [info('127.0.0.1', true)] }), fp, false);
    expect(text.trimEnd().split('\n').at(-1)).toBe(`  ${peerCommand('wss://127.0.0.1:8443', fp, false)}`);
  });
});
