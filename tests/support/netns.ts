/**
 * Test support: a small LAN of Linux network namespaces. Each "host" is a
 * namespace with lo and one veth (eth0) whose other end sits on a bridge in
 * an extra "switch" namespace, so nothing is added to the root namespace and
 * every host has its own ports (the default discovery port 2426 included).
 * Needs root and iproute2; netnsUnavailable() says why not otherwise.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { roomForHosts } from './neighbour-table.js';

export interface Sh {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ip ...args`; never throws (the caller decides). */
export function ip(args: string[]): Promise<Sh> {
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: 15000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && !stderr ? err.message : '') });
    });
  });
}

async function must(args: string[]): Promise<string> {
  const r = await ip(args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Null when namespaces, veth pairs and bridges can be made here; otherwise the
 * reason, for a skip message. Probes with a throwaway namespace.
 */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return `network namespaces need root (uid is ${uid})`;
  const probe = `pg-${randomBytes(3).toString('hex')}-probe`;
  const add = await ip(['netns', 'add', probe]);
  if (add.code !== 0) return `\`ip netns add ${probe}\` failed: ${add.stderr.trim() || `exit ${add.code}`}`;
  try {
    for (const args of [
      ['-n', probe, 'link', 'add', 'br0', 'type', 'bridge'],
      ['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
    ]) {
      const r = await ip(args);
      if (r.code !== 0) return `\`ip ${args.join(' ')}\` failed: ${r.stderr.trim() || `exit ${r.code}`}`;
    }
    return null;
  } finally {
    await ip(['netns', 'del', probe]);
  }
}

export interface LanHost {
  /** Short label, e.g. "a". */
  label: string;
  /** Namespace name, e.g. "pg-1a2b3c-a". */
  ns: string;
  /** IPv4 address on eth0. */
  address: string;
  /** Command prefix that runs a program in this host: ip netns exec <ns>. */
  prefix: string[];
}

export interface Lan {
  tag: string;
  /** The /24 the hosts live in, e.g. "10.77.42.0/24". */
  subnet: string;
  /** The namespace holding the bridge. */
  switchNs: string;
  hosts: LanHost[];
  host(label: string): LanHost;
  /** Adds (or removes) a 224.0.0.0/4 route via eth0 in every host, as a machine with a default route has. */
  setMulticastRoute(on: boolean): Promise<void>;
  /** Deletes every namespace (and with them the veth pairs and the bridge). Idempotent. */
  destroy(): Promise<void>;
}

/**
 * Makes namespaces pg-<tag>-<label> for each label plus pg-<tag>-sw with the
 * bridge; host i gets 10.77.<random>.(11 + i)/24 on eth0. A big LAN gets
 * room in the kernel's shared neighbour table while it lives
 * (neighbour-table.ts). On failure, whatever was made is removed before the
 * error is thrown.
 */
export async function createLan(labels: string[]): Promise<Lan> {
  const tag = randomBytes(3).toString('hex');
  const third = randomInt(1, 255);
  const switchNs = `pg-${tag}-sw`;
  const made: string[] = [];
  const hosts: LanHost[] = labels.map((label, i) => {
    const ns = `pg-${tag}-${label}`;
    return { label, ns, address: `10.77.${third}.${11 + i}`, prefix: ['ip', 'netns', 'exec', ns] };
  });
  let destroyed = false;
  const release = roomForHosts(labels.length, tag);
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const ns of made.reverse()) await ip(['netns', 'del', ns]);
    release();
  };
  try {
    await must(['netns', 'add', switchNs]);
    made.push(switchNs);
    await must(['-n', switchNs, 'link', 'set', 'lo', 'up']);
    await must(['-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await must(['-n', switchNs, 'link', 'set', 'br0', 'up']);
    for (const h of hosts) {
      await must(['netns', 'add', h.ns]);
      made.push(h.ns);
      await must(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      // Made inside the host namespace, the far end moved straight into the switch: never in the root namespace.
      await must(['-n', h.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p-${h.label}`, 'netns', switchNs]);
      await must(['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'brd', '+', 'dev', 'eth0']);
      await must(['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      await must(['-n', switchNs, 'link', 'set', `p-${h.label}`, 'master', 'br0']);
      await must(['-n', switchNs, 'link', 'set', `p-${h.label}`, 'up']);
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    tag,
    subnet: `10.77.${third}.0/24`,
    switchNs,
    hosts,
    host(label) {
      const h = hosts.find((x) => x.label === label);
      if (!h) throw new Error(`no host ${label}`);
      return h;
    },
    async setMulticastRoute(on) {
      for (const h of hosts) {
        const r = await ip(['-n', h.ns, 'route', on ? 'replace' : 'del', '224.0.0.0/4', 'dev', 'eth0']);
        if (on && r.code !== 0) throw new Error(`multicast route in ${h.ns}: ${r.stderr.trim()}`);
      }
    },
    destroy,
  };
}
