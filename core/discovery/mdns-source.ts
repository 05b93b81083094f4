/**
 * mDNS / DNS-SD discovery with bonjour-service: publishes _pigeon._tcp with the
 * device id in TXT and browses for others, on every suitable IPv4 interface
 * (bonjour-service alone only uses the default route's interface, and fails in
 * a network without one). A peer found here is handed to UDP presence as a
 * unicast target, which keeps its liveness; mDNS itself only finds it: its
 * records are unsigned, so the directory gives its sightings no claim.
 * Queries from a peer UDP already hears are not answered (ANSWER_DELAY_MIN_MS),
 * and the service is announced unasked only while UDP broadcast reaches nobody
 * (ANNOUNCE_FIRST_MS): its records are registered with the responder, so
 * queries are answered, but not multicast to an office that already hears us.
 */
import type { Bonjour, Browser, Service } from 'bonjour-service';
import { EXPIRY_MS, MDNS_SERVICE_TYPE, PROTOCOL_VERSION, REFRESH_JITTER_MS, REFRESH_MS } from '../../shared/protocol/constants.js';
import { DeviceId, Label } from '../../shared/protocol/schemas-common.js';
import type { Clock, Logger, Random, TimerHandle } from '../util/components.js';
import type { DiscoverySink, DiscoverySource, SelfPresence } from './discovery-source.js';
import { lanInterfaces } from './interfaces.js';

export interface MdnsInit {
  discoveryPort: number;
  self: () => SelfPresence;
  sink: DiscoverySink;
  /** Interface addresses to use; default: every non-loopback IPv4 interface. */
  interfaces?: string[];
}

interface Instance {
  bonjour: Bonjour;
  browser: Browser;
  server: BonjourServer;
  /** Our service's records (PTR, SRV, TXT, A), registered with the responder. */
  records: MdnsRecord[];
  /** Did our records go out (announced or answered)? Then a goodbye follows on stop. */
  spoken: boolean;
}

/** A resource record as multicast-dns takes it; `ttl` 0 is a goodbye. */
interface MdnsRecord {
  ttl?: number;
  [field: string]: unknown;
}

/**
 * The first unasked announcement of our service, after REFRESH_MS +
 * REFRESH_JITTER_MS: by then every running peer that broadcast reaches has
 * sent an alive we heard, so in an office where broadcast works nothing is
 * announced. bonjour-service announced every service at once and again after
 * 3 s, 12 s, 39 s…, and each announcement was parsed by every peer on the
 * link: at N = 40, a fifth of the CPU of a crowd start and a third of the
 * idle CPU (`PIGEON_OFFICE_PEER_ARGS=--no-mdns` side by side, docs/benchmarks.md).
 */
const ANNOUNCE_FIRST_MS = REFRESH_MS + REFRESH_JITTER_MS;
/** Each later announcement waits three times as long as the one before, as bonjour-service's did. */
const ANNOUNCE_FACTOR = 3;
/** Announcements stop once the wait would exceed an hour (bonjour-service's limit). */
const ANNOUNCE_MAX_MS = 60 * 60 * 1000;

/**
 * When the browse query is repeated: after 1 s, then twice as long each time,
 * at most every 5 minutes (RFC 6762 §5.2, continuous querying). Services
 * announce themselves when they are published, so a repeated query only
 * recovers a lost announcement; and every query makes every responder on the
 * link answer (bonjour-service does no known-answer suppression), so an
 * office of N peers querying every T seconds makes each peer receive and
 * parse N²/T responses a second. The fixed 10 s of earlier versions meant
 * 160 a second per peer at 40 peers and 2,250 at 150: enough to saturate the
 * CPUs of a 40-peer test LAN and starve the presence timers (issue 1/6).
 *
 * A repeat is skipped while UDP broadcast reaches some peer (the directory
 * holds a broadcast claim): mDNS is link-local like broadcast, so every
 * responder that could answer also hears our broadcasts, or announces itself
 * again (bonjour-service re-announces after 3 s, 12 s, 39 s and so on). In an
 * office switching on, each repeat of each newcomer was answered by every
 * peer already up, and each answer parsed by all of them: the largest part
 * of a join's traffic (issue 12). The first query, sent when the browser
 * starts, is always sent: it is how a newcomer meets peers whose last
 * announcement was long ago.
 */
const REQUERY_FIRST_MS = 1000;
const REQUERY_MAX_MS = 5 * 60 * 1000;

/**
 * Answers to a browse query wait a random 100..400 ms, then are not sent when
 * the querier's address is a peer UDP already hears (a broadcast or unicast
 * claim in the directory). bonjour-service answers every query at once, by
 * multicast: a newcomer's first query in an office of N is answered by N−1
 * peers and each answer parsed by all N, N² datagrams per join (157 of the
 * 459 a 151st peer cost at N = 150, ~22,000 receptions; in a crowd start
 * every peer parses some 11,000 answers). A Pigeon querier that UDP hears
 * gets our signed unicast reply to its announcement anyway, which is what
 * holds its claim; mDNS only hints. RFC 6762 §6 asks for a 20..120 ms delay
 * when several responders answer; the longer wait lets the newcomer's UDP
 * announcement, sent just before its query, be read first on a busy host.
 * Any other querier (no claim at its address) is answered as before.
 */
const ANSWER_DELAY_MIN_MS = 100;
const ANSWER_DELAY_SPREAD_MS = 300;

/** The part of bonjour-service's responder this source drives (its query handler is replaced). */
interface BonjourServer {
  mdns: {
    on(event: 'query', l: (query: unknown, rinfo: { address: string }) => void): void;
    removeAllListeners(event: 'query'): void;
    respond(records: MdnsRecord[], done?: () => void): void;
  };
  register(records: MdnsRecord[]): void;
  respondToQuery(query: unknown): void;
}

export class MdnsSource implements DiscoverySource {
  readonly name = 'mdns';
  private instances: Instance[] = [];
  private timer: TimerHandle | null = null;
  private announceTimer: TimerHandle | null = null;
  /** Unasked announcements sent, and skipped because UDP broadcast reaches peers (for tests and logs). */
  readonly announcements = { sent: 0, skipped: 0 };
  /** Repeats not sent because UDP broadcast reaches peers (for tests and logs). */
  skippedRequeries = 0;
  /** Queries heard, not answered because UDP already hears the querier, and handed to the responder (for tests and logs). */
  readonly queries = { heard: 0, skipped: 0, answered: 0 };
  private readonly answerTimers = new Set<TimerHandle>();

  constructor(
    private readonly components: { logger: Logger; clock: Clock; random?: Random },
    private readonly init: MdnsInit,
  ) {}

  async start(): Promise<void> {
    if (this.instances.length > 0) return;
    const addresses = this.init.interfaces ?? lanInterfaces().map((i) => i.address);
    // Loaded here, not at import time: a peer started with --no-mdns never pays for it.
    const { Bonjour: BonjourClass, Service: ServiceClass } = await import('bonjour-service');
    for (const address of addresses) {
      try {
        this.instances.push(this.open(BonjourClass, ServiceClass, address));
      } catch (err) {
        this.components.logger.log('warn', 'mDNS unavailable on interface', { address, error: (err as Error).message });
      }
    }
    this.scheduleRequery(REQUERY_FIRST_MS);
    this.scheduleAnnounce(ANNOUNCE_FIRST_MS, ANNOUNCE_FIRST_MS);
  }

  /** Announces our service unasked at `at`, unless UDP broadcast reaches peers then; again after `wait` × 3. */
  private scheduleAnnounce(delay: number, wait: number): void {
    this.announceTimer = this.components.clock.setTimeout(() => {
      if (this.instances.length === 0) return;
      if (this.init.sink.hearsBroadcast?.()) this.announcements.skipped++;
      else {
        this.announcements.sent++;
        for (const i of this.instances) {
          i.spoken = true;
          i.server.mdns.respond(i.records);
        }
      }
      const next = wait * ANNOUNCE_FACTOR;
      if (next < ANNOUNCE_MAX_MS) this.scheduleAnnounce(next, next);
    }, delay);
  }

  private scheduleRequery(delay: number): void {
    this.timer = this.components.clock.setTimeout(() => {
      if (this.instances.length === 0) return;
      if (this.init.sink.hearsBroadcast?.()) this.skippedRequeries++;
      else for (const i of this.instances) i.browser.update();
      this.scheduleRequery(Math.min(delay * 2, REQUERY_MAX_MS));
    }, delay);
  }

  private open(BonjourClass: typeof Bonjour, ServiceClass: typeof Service, address: string): Instance {
    const logger = this.components.logger;
    const bonjour = new BonjourClass({ interface: address, bind: '0.0.0.0' } as never, (err: Error) =>
      logger.log('debug', 'mDNS error', { address, error: err.message }),
    );
    const self = this.init.self();
    // Not bonjour.publish(): it probes (three queries) and announces at once and
    // again and again, each parsed by every peer. The device id in the name cannot
    // clash, so no probe; announcements go out only as scheduleAnnounce decides.
    const service = new ServiceClass(
      {
        name: self.id,
        host: `${self.id}.local`,
        type: MDNS_SERVICE_TYPE,
        port: self.port,
        disableIPv6: true,
        txt: { v: String(PROTOCOL_VERSION), id: self.id, dp: String(this.init.discoveryPort), name: self.name, group: self.group },
      },
      () => {},
      () => {},
    );
    const server = (bonjour as unknown as { server: BonjourServer }).server;
    const records = service.records() as unknown as MdnsRecord[];
    server.register(records);
    const instance = { bonjour, server, records, spoken: false } as Omit<Instance, 'browser'> & { browser?: Browser };
    this.answerLater(server, instance);
    const browser = bonjour.find({ type: MDNS_SERVICE_TYPE });
    browser.on('up', (service: Service) => this.onUp(service));
    browser.on('down', (service: Service) => {
      const id = (service.txt as Record<string, unknown> | undefined)?.id;
      if (typeof id === 'string') this.init.sink.gone(id, 'mdns');
    });
    instance.browser = browser;
    return instance as Instance;
  }

  /** Replaces the responder's immediate multicast answer by a delayed one that skips queriers UDP hears (ANSWER_DELAY_MIN_MS). */
  private answerLater(server: BonjourServer, instance: { spoken: boolean }): void {
    server.mdns.removeAllListeners('query');
    server.mdns.on('query', (query, rinfo) => {
      this.queries.heard++;
      const random = this.components.random?.next() ?? Math.random();
      const timer = this.components.clock.setTimeout(() => {
        this.answerTimers.delete(timer);
        if (this.instances.length === 0) return;
        if (this.init.sink.hearsAt?.(rinfo.address)) {
          this.queries.skipped++;
          return;
        }
        this.queries.answered++;
        instance.spoken = true;
        server.respondToQuery(query);
      }, ANSWER_DELAY_MIN_MS + random * ANSWER_DELAY_SPREAD_MS);
      this.answerTimers.add(timer);
    });
  }

  private onUp(service: Service): void {
    const txt = (service.txt ?? {}) as Record<string, unknown>;
    const id = DeviceId.safeParse(txt.id);
    const name = Label.safeParse(txt.name ?? '');
    const group = Label.safeParse(txt.group ?? '');
    const dp = Number(txt.dp);
    const referer = (service as Service & { referer?: { address?: string } }).referer?.address;
    const address = (service.addresses ?? []).find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a)) ?? referer;
    if (!id.success || !name.success || !group.success || !address || !Number.isInteger(service.port)) {
      this.components.logger.log('debug', 'ignored malformed mDNS service', { name: service.name });
      return;
    }
    if (id.data === this.init.self().id) return;
    this.init.sink.seen({
      id: id.data,
      name: name.data,
      group: group.data,
      host: service.host ?? '',
      port: service.port,
      status: 'online',
      away: '',
      address,
      source: 'mdns',
      ttlMs: EXPIRY_MS,
    });
    if (Number.isInteger(dp) && dp > 0 && dp < 65536) this.init.sink.learnUnicast?.(address, dp, id.data);
  }

  update(): void {
    // Presence changes travel by UDP; the mDNS record only carries identity.
  }

  async stop(): Promise<void> {
    this.components.clock.clear(this.timer);
    this.timer = null;
    this.components.clock.clear(this.announceTimer);
    this.announceTimer = null;
    for (const t of this.answerTimers) this.components.clock.clear(t);
    this.answerTimers.clear();
    const instances = this.instances;
    this.instances = [];
    await Promise.all(
      instances.map(
        (i) =>
          new Promise<void>((resolve) => {
            i.browser.stop();
            const done = (): void => {
              i.bonjour.destroy();
              resolve();
            };
            // A goodbye (TTL 0) only from a peer whose records someone may have cached.
            if (i.spoken) i.server.mdns.respond(i.records.map((r) => ({ ...r, ttl: 0 })), done);
            else done();
          }),
      ),
    );
  }
}
