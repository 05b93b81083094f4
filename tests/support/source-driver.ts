/**
 * Runs one discovery source (UDP presence or mDNS) in its own process, so that
 * the compliance suite can place it on loopback or inside a network namespace.
 * Usage: node dist/tests/support/source-driver.js <udp|mdns|ipmsg> '<json options>'.
 * Prints one JSON line per sink call ({"seen":…} / {"gone":…}) after a first
 * {"ready":…}; reads commands from stdin: "update <json presence>", "stop".
 */
import { createInterface } from 'node:readline';
import type { DiscoverySink, DiscoverySource, SelfPresence, Sighting } from '../../core/discovery/discovery-source.js';
import { MdnsSource } from '../../core/discovery/mdns-source.js';
import { UdpPresence } from '../../core/discovery/udp-presence.js';
import { silentLogger, systemClock, systemRandom } from '../../core/util/components.js';
import { IpmsgBridge } from '../../core/ipmsg/ipmsg-bridge.js';
import { Store } from '../../core/store/store.js';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { deviceIdFromSpki } from '../../core/identity/identity.js';
import { createSigner } from '../../core/identity/signing.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface DriverOptions {
  self: SelfPresence;
  discoveryPort: number;
  broadcast?: string[];
  /** ipmsg: the address to bind (port 2425) and the other instance's address. */
  bind?: string;
  peer?: string;
}

const [kind, json] = process.argv.slice(2);
const options = JSON.parse(json ?? '{}') as DriverOptions;
let self = options.self;
const out = (obj: unknown): void => void process.stdout.write(JSON.stringify(obj) + '\n');

let udp: UdpPresence | null = null;
const sink: DiscoverySink = {
  seen: (s: Sighting) => out({ seen: s }),
  gone: (id: string, source?: string) => out({ gone: { id, source: source ?? null } }),
  learnUnicast: (address: string, port: number) => {
    out({ learnUnicast: { address, port } });
    udp?.learn(address, port);
  },
};

let source: DiscoverySource;
if (kind === 'udp') {
  // Discovery is signed by the device key and the id derives from it: a fresh key, and the id it gives.
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  self = { ...self, id: deviceIdFromSpki(spki) };
  udp = new UdpPresence(
    { logger: silentLogger, random: systemRandom, clock: systemClock },
    { discoveryPort: options.discoveryPort, broadcast: options.broadcast ?? 'auto', extraAddresses: [], self: () => self, sink, knownPeers: () => 1, spki, sign: createSigner({ keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }) },
  );
  source = udp;
} else if (kind === 'mdns') {
  source = new MdnsSource({ logger: silentLogger, clock: systemClock }, { discoveryPort: options.discoveryPort, self: () => self, sink });
} else if (kind === 'ipmsg') {
  // The bridge keeps its contact book in the profile's store: a throw-away one here.
  const dir = mkdtempSync(join(tmpdir(), 'pigeon-driver-'));
  const store = new Store(join(dir, 'pigeon.db'));
  process.once('exit', () => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  source = new IpmsgBridge(
    { store, clock: systemClock, random: systemRandom, logger: silentLogger, sink, self: () => self, openChannel: () => {} },
    { bind: options.bind!, broadcast: [], extraAddresses: [options.peer!], acceptPigeons: true },
  );
} else {
  throw new Error(`unknown source kind ${kind}`);
}

await source.start();
await source.start(); // idempotent by contract
out({ ready: source.name, id: self.id });

createInterface({ input: process.stdin }).on('line', (line) => {
  void (async () => {
    if (line.startsWith('update ')) {
      self = { ...self, ...(JSON.parse(line.slice(7)) as Partial<SelfPresence>) };
      source.update();
      out({ updated: true });
    } else if (line === 'stop') {
      await source.stop();
      await source.stop(); // idempotent by contract
      out({ stopped: true });
      process.exit(0);
    }
  })();
});
