/**
 * Test support: two private LANs behind NAT routers and a "public" host, all
 * Linux network namespaces (modelled on ./netns.ts: a random tag per run,
 * veth pairs, bridges in extra "switch" namespaces, nothing added to the
 * root namespace).
 *
 *   a 10.N.1.10 ── [lan1] ── r1 ── [wan 198.51.100.0/24] ── r2 ── [lan2] ── b 10.N.2.10
 *                 10.N.1.1 ┘  └ .11            │          .12 ┘  └ 10.N.2.1
 *                                        pub .10 (the relay host)
 *
 * Each router forwards, masquerades what leaves its WAN interface, and drops
 * every new connection from its WAN into its LAN (only replies get in), as a
 * home or office router does. pub has no route to either LAN: it only ever
 * sees the routers' WAN addresses. Needs root, iproute2, iptables and sysctl;
 * natUnavailable() says why not otherwise.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { ip, netnsUnavailable, type Sh } from './netns.js';

/**
 * The WAN: TEST-NET-2 (RFC 5737), never routed on a real network. Fixed,
 * because addresses inside namespaces cannot clash between runs anyway; the
 * LANs get a random second octet (like netns.ts) so logs of parallel runs
 * are told apart.
 */
const WAN = '198.51.100';

/** Runs argv, never throws (the caller decides); code is the exit status, or 1 for a spawn error or a timeout. */
export function run(argv: string[], timeoutMs = 15_000): Promise<Sh> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    execFile(cmd!, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err ? err.message : '') });
    });
  });
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const mustIp = (args: string[]): Promise<string> => must(['ip', ...args]);

/** The router rules: forward, masquerade on the WAN side, let only replies in from the WAN. */
function routerRules(wanIf: string, lanIf: string): string[][] {
  return [
    ['sysctl', '-w', 'net.ipv4.ip_forward=1'],
    ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', wanIf, '-j', 'MASQUERADE'],
    ['iptables', '-A', 'FORWARD', '-i', wanIf, '-o', lanIf, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ['iptables', '-A', 'FORWARD', '-i', wanIf, '-o', lanIf, '-j', 'DROP'],
  ];
}

/**
 * Null when the NAT topology can be made here; otherwise the reason, for a
 * skip message. On top of netnsUnavailable(), probes iptables (installed,
 * and its nat table, MASQUERADE and conntrack match usable inside a
 * namespace) and sysctl with a throwaway namespace.
 */
export async function natUnavailable(): Promise<string | null> {
  const netns = await netnsUnavailable();
  if (netns) return netns;
  for (const tool of ['iptables', 'sysctl']) {
    const r = await run([tool, '--version']);
    if (r.code !== 0) return `\`${tool} --version\` failed (is ${tool} installed? on Debian: apt-get install ${tool === 'sysctl' ? 'procps' : tool}): ${r.stderr.trim()}`;
  }
  const probe = `pg-${randomBytes(3).toString('hex')}-natprobe`;
  const add = await ip(['netns', 'add', probe]);
  if (add.code !== 0) return `\`ip netns add ${probe}\` failed: ${add.stderr.trim() || `exit ${add.code}`}`;
  try {
    for (const argv of routerRules('lo', 'lo')) {
      const r = await run(['ip', 'netns', 'exec', probe, ...argv]);
      if (r.code !== 0) return `\`${argv.join(' ')}\` failed inside a namespace: ${r.stderr.trim() || `exit ${r.code}`}`;
    }
    return null;
  } finally {
    await ip(['netns', 'del', probe]);
  }
}

export interface NatHost {
  /** Short label: "pub", "r1", "r2", "a" or "b". */
  label: string;
  /** Namespace name, e.g. "pg-1a2b3c-a". */
  ns: string;
  /** Its address: on the WAN for pub and the routers, on its LAN for a and b. */
  address: string;
  /** Command prefix that runs a program in this host: ip netns exec <ns>. */
  prefix: string[];
}

export interface NatRouter extends NatHost {
  /** Address on the WAN (what pub sees of everything behind it); equals `address`. */
  wanAddress: string;
  /** The LAN side: the default gateway of the host behind it. */
  lanAddress: string;
  /** The LAN, e.g. "10.42.1.0/24". */
  lanSubnet: string;
  wanIf: string;
  lanIf: string;
}

export interface NatTopology {
  tag: string;
  wanSubnet: string;
  pub: NatHost;
  r1: NatRouter;
  r2: NatRouter;
  /** The host on r1's LAN. */
  a: NatHost;
  /** The host on r2's LAN. */
  b: NatHost;
  /** Runs argv in a host (ip netns exec); never throws. */
  exec(host: NatHost, argv: string[], timeoutMs?: number): Promise<Sh>;
  /** What the routers' firewalls and NAT tables counted (iptables -L -v), for a failure message. */
  describe(): Promise<string>;
  /** Deletes every namespace (and with them the veth pairs and bridges). Idempotent. */
  destroy(): Promise<void>;
}

const interfaceNames = { wanIf: 'wan0', lanIf: 'lan0' };

/**
 * Makes namespaces pg-<tag>-{pub,r1,r2,a,b} and the switches
 * pg-<tag>-{wan,lan1,lan2}, each switch holding a bridge br0. On failure,
 * whatever was made is removed before the error is thrown.
 */
export async function createNat(): Promise<NatTopology> {
  const tag = randomBytes(3).toString('hex');
  const second = randomInt(1, 255);
  const name = (label: string): string => `pg-${tag}-${label}`;
  const host = (label: string, address: string): NatHost => ({ label, ns: name(label), address, prefix: ['ip', 'netns', 'exec', name(label)] });
  const router = (label: string, wanHost: number, lan: number): NatRouter => ({
    ...host(label, `${WAN}.${wanHost}`),
    wanAddress: `${WAN}.${wanHost}`,
    lanAddress: `10.${second}.${lan}.1`,
    lanSubnet: `10.${second}.${lan}.0/24`,
    ...interfaceNames,
  });
  const pub = host('pub', `${WAN}.10`);
  const r1 = router('r1', 11, 1);
  const r2 = router('r2', 12, 2);
  const a = host('a', `10.${second}.1.10`);
  const b = host('b', `10.${second}.2.10`);
  const switches = { wan: name('wan'), lan1: name('lan1'), lan2: name('lan2') };

  const made: string[] = [];
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of made.reverse()) await ip(['netns', 'del', ns]);
  };
  /**
   * A cable: interface `ifName` with `address`/24 in `ns`, its far end
   * (`port`) on the bridge of switch `sw`. Made inside the host namespace,
   * the far end moved straight into the switch: never in the root namespace.
   */
  const plug = async (ns: string, ifName: string, address: string, sw: string, port: string): Promise<void> => {
    await mustIp(['-n', ns, 'link', 'add', ifName, 'type', 'veth', 'peer', 'name', port, 'netns', sw]);
    await mustIp(['-n', ns, 'addr', 'add', `${address}/24`, 'brd', '+', 'dev', ifName]);
    await mustIp(['-n', ns, 'link', 'set', ifName, 'up']);
    await mustIp(['-n', sw, 'link', 'set', port, 'master', 'br0']);
    await mustIp(['-n', sw, 'link', 'set', port, 'up']);
  };
  try {
    for (const ns of [...Object.values(switches), pub.ns, r1.ns, r2.ns, a.ns, b.ns]) {
      await mustIp(['netns', 'add', ns]);
      made.push(ns);
      await mustIp(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    for (const sw of Object.values(switches)) {
      await mustIp(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      await mustIp(['-n', sw, 'link', 'set', 'br0', 'up']);
    }
    // pub: one leg on the WAN and no other route (it cannot address the LANs).
    await plug(pub.ns, 'eth0', pub.address, switches.wan, 'p-pub');
    for (const [r, lanSwitch] of [[r1, switches.lan1], [r2, switches.lan2]] as const) {
      await plug(r.ns, r.wanIf, r.wanAddress, switches.wan, `p-${r.label}`);
      await plug(r.ns, r.lanIf, r.lanAddress, lanSwitch, `p-${r.label}`);
      for (const argv of routerRules(r.wanIf, r.lanIf)) await must([...r.prefix, ...argv]);
    }
    for (const [h, r, lanSwitch] of [[a, r1, switches.lan1], [b, r2, switches.lan2]] as const) {
      await plug(h.ns, 'eth0', h.address, lanSwitch, `p-${h.label}`);
      await mustIp(['-n', h.ns, 'route', 'add', 'default', 'via', r.lanAddress]);
    }
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    tag,
    wanSubnet: `${WAN}.0/24`,
    pub,
    r1,
    r2,
    a,
    b,
    exec: (h, argv, timeoutMs) => run([...h.prefix, ...argv], timeoutMs),
    async describe() {
      const out: string[] = [];
      for (const r of [r1, r2]) {
        for (const table of ['filter', 'nat']) {
          const l = await run([...r.prefix, 'iptables', '-t', table, '-L', '-v', '-n']);
          out.push(`--- ${r.label} (${r.ns}) iptables -t ${table}:\n${(l.stdout || l.stderr).trim()}`);
        }
      }
      return out.join('\n');
    },
    destroy,
  };
}

/** How a TCP connect attempt ended. */
export type TcpProbe = 'connected' | 'refused' | 'timeout';

/**
 * Tries a TCP connect from `from` to address:port, giving up after
 * `timeoutMs`: 'refused' covers every error (refused, unreachable), 'timeout'
 * a silent drop.
 */
export async function tcpProbe(nat: NatTopology, from: NatHost, address: string, port: number, timeoutMs = 2000): Promise<TcpProbe> {
  const script = `require('net').connect(${port}, ${JSON.stringify(address)}).on('connect', () => process.exit(0)).on('error', () => process.exit(1)).setTimeout(${timeoutMs}, () => process.exit(2))`;
  const r = await nat.exec(from, [process.execPath, '-e', script], timeoutMs + 10_000);
  return r.code === 0 ? 'connected' : r.code === 2 ? 'timeout' : 'refused';
}
