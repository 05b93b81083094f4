/**
 * What `pigeon relay` prints at start for the administrator to hand out
 * (issue 15, "relay onboarding"): every wss://address:port a colleague's peer
 * can use, instead of the wildcard it listens on (wss://0.0.0.0 is no address
 * anyone can reach), and one command that sets a colleague's peer up for this
 * relay, fingerprint included. Pure: the interface list is a parameter.
 */
import type { NetworkInterfaceInfo } from 'node:os';

/** One address the relay can be reached at. */
export interface ReachableUrl {
  /** wss://host:port, as `pigeon peer --relay` takes it. */
  url: string;
  /** Interface name (eth0, wlan0, lo…), for the administrator to recognise the network. */
  iface: string;
  /** Loopback: reachable from this machine only, listed last. */
  local: boolean;
}

/** Where the colleague keeps the invite token: a file in the home folder, read at every start (the path is saved, the token is not). */
export const PEER_TOKEN_FILE = '~/.pigeon-relay-token';

/** Listening on every IPv4 address; `::` listens on IPv6 and (dual stack) IPv4 alike. */
const WILDCARD_V4 = '0.0.0.0';
const WILDCARD_V6 = '::';

/** Link-local addresses (169.254/16, fe80::/10) need a zone and change with every cable: no use to a colleague. */
function linkLocal(address: string, family: string): boolean {
  if (family === 'IPv4') return address.startsWith('169.254.');
  return /^fe[89ab]/i.test(address);
}

function wss(address: string, port: number): string {
  return `wss://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * Every URL of a relay listening on `host`:`port`: for a wildcard host, each
 * address of each interface (IPv4 before IPv6, loopback last, link-local left
 * out); for a given host, that host alone.
 */
export function reachableUrls(host: string, port: number, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): ReachableUrl[] {
  const wildcard = host === WILDCARD_V4 || host === WILDCARD_V6 || host === '';
  if (!wildcard) return [{ url: wss(host, port), iface: '', local: host === 'localhost' || host === '::1' || host.startsWith('127.') }];
  const found: Array<ReachableUrl & { v6: boolean }> = [];
  for (const [iface, infos] of Object.entries(interfaces)) {
    for (const info of infos ?? []) {
      const v6 = info.family === 'IPv6';
      if (v6 && host === WILDCARD_V4) continue;
      if (linkLocal(info.address, info.family)) continue;
      found.push({ url: wss(info.address, port), iface, local: info.internal, v6 });
    }
  }
  const rank = (u: { local: boolean; v6: boolean }): number => (u.local ? 2 : 0) + (u.v6 ? 1 : 0);
  return found.sort((a, b) => rank(a) - rank(b)).map(({ url, iface, local }) => ({ url, iface, local }));
}

/**
 * The one command a colleague runs once: the relay's address and
 * fingerprint are saved in the peer's profile. The fingerprint goes without
 * spaces so that no shell needs quotes; the invite token is never in it (it
 * would stay in the shell history): it is read from a file.
 */
export function peerCommand(url: string, fingerprint: string, tokenRequired: boolean): string {
  const fp = fingerprint.replace(/[\s:]/g, '');
  return `pigeon peer --relay ${url} --relay-fingerprint ${fp}${tokenRequired ? ` --relay-token-file ${PEER_TOKEN_FILE}` : ''}`;
}

/** The start-up text for people: where to connect, what to compare, what to run. */
export function onboardingText(urls: ReachableUrl[], fingerprint: string, tokenRequired: boolean): string {
  const width = Math.max(0, ...urls.map((u) => u.url.length));
  const lines = [
    'Pigeon relay started. Colleagues\' peers can reach it at:',
    ...urls.map((u) => `  ${u.url.padEnd(width)}  ${u.local ? '(this machine only)' : u.iface}`),
    'Certificate fingerprint (colleagues compare it with what their peer reports):',
    `  ${fingerprint}`,
  ];
  const first = urls.find((u) => !u.local) ?? urls[0];
  if (!first) return lines.join('\n') + '\n';
  if (tokenRequired) {
    lines.push(
      `Each colleague first saves the invite token you give them (it is not printed here) as the first line of ${PEER_TOKEN_FILE}`,
      '(an editor, not the command line, keeps it out of the shell history), then runs once:',
    );
  } else lines.push('Each colleague runs once (the relay is then saved in their profile):');
  lines.push(`  ${peerCommand(first.url, fingerprint, tokenRequired)}`);
  return lines.join('\n') + '\n';
}
