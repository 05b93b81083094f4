/**
 * The LocalSend bridge: makes LocalSend devices (phones and laptops running
 * the LocalSend app) contacts of this peer, and this peer a LocalSend device
 * for them. Discovery (ls-discovery.ts) and the server (ls-server.ts) feed one
 * contact book keyed by fingerprint (ls-contacts.ts); the contacts go into
 * the peer directory as source and protocol 'localsend'. Files travel through
 * the receiver and sender (ls-receiver.ts, ls-sender.ts) as ordinary rows of
 * the transfers list; texts become chat messages (ls-channel.ts). The seam to
 * the rest of the engine is this class's few methods: owns(), ensure(),
 * offer(), accept() / decline() / cancel(), and the transfer service.
 */
import { rmSync } from 'node:fs';
import { isFinishedTransfer, type TransferInfo } from '../../shared/api/control-api.js';
import type { DiscoverySink, DiscoverySource } from '../discovery/discovery-source.js';
import { PART_SUFFIX, type TransferService } from '../transfer/transfer-service.js';
import type { Clock, Logger, Random } from '../util/components.js';
import type { LocalSendCert } from './ls-cert.js';
import { LocalSendChannel } from './ls-channel.js';
import { lsRequest } from './ls-client.js';
import { contactFrom, LocalSendContacts, sightingOf, type LocalSendContact } from './ls-contacts.js';
import { LocalSendDiscovery, LOCALSEND_TTL_MS } from './ls-discovery.js';
import { LocalSendReceiver } from './ls-receiver.js';
import { LocalSendSender } from './ls-sender.js';
import { LocalSendServer, type Answer, type Caller } from './ls-server.js';
import { DeviceInfo, LOCALSEND_VERSION, parseJson, PIGEON_MODEL, type DeviceType } from './ls-wire.js';
import type { Store } from '../store/store.js';

/** A register answer must come within this long, or we answer the announcement by multicast instead. */
const REGISTER_MS = 5_000;

export interface LocalSendBridgeDeps {
  store: Store;
  clock: Clock;
  random: Random;
  logger: Logger;
  sink: DiscoverySink;
  service: TransferService;
  cert: LocalSendCert;
  /** Our display name, shown as the LocalSend alias. */
  alias: () => string;
  /** --accept-from takes this contact's offers without asking. */
  autoAccepts: (contactId: string) => boolean;
  /** A contact's text: hand its channel to the messenger. */
  openChannel: (channel: LocalSendChannel) => void;
}

export interface LocalSendBridgeInit {
  bind?: string;
  port: number;
  /** Serve plain HTTP instead of HTTPS (LocalSend's "encryption off"). */
  http?: boolean;
  pin: string | null;
  downloads: string;
  deviceType: DeviceType;
  extraAddresses: string[];
  /** Multicast group; default 224.0.0.167 (tests use their own). */
  group?: string;
  /**
   * Take other Pigeons' LocalSend faces as contacts too (tests of two Pigeons). Off in a peer: another Pigeon
   * is reached natively, encrypted, and must not also turn up as a LocalSend twin.
   */
  acceptPigeons?: boolean;
}

export class LocalSendBridge implements DiscoverySource {
  readonly name = 'localsend';
  readonly contacts: LocalSendContacts;
  private readonly server: LocalSendServer;
  private readonly discovery: LocalSendDiscovery;
  private readonly receiver: LocalSendReceiver;
  private readonly sender: LocalSendSender;
  private readonly channels = new Map<string, LocalSendChannel>();
  /** Contacts heard since start or since a message to them failed: only these get a channel (no retry loop against a device that is gone). */
  private readonly reachable = new Set<string>();
  private started = false;

  constructor(
    private readonly deps: LocalSendBridgeDeps,
    private readonly init: LocalSendBridgeInit,
  ) {
    const { store, clock, random, logger, service } = deps;
    this.contacts = new LocalSendContacts(store, clock);
    const tls = { keyPem: deps.cert.keyPem, certPem: deps.cert.certPem };
    this.receiver = new LocalSendReceiver({
      service,
      clock,
      random,
      logger,
      downloads: init.downloads,
      pin: init.pin,
      contact: (info, caller) => this.heard(info, caller.address, caller.certFingerprint),
      confirm: (id) => this.confirm(id),
      autoAccepts: deps.autoAccepts,
      text: (id, text) => {
        this.channel(id).received(text);
        this.confirm(id);
      },
    });
    this.sender = new LocalSendSender({ service, clock, random, logger, tls, ...(init.bind ? { localAddress: init.bind } : {}), self: () => this.self(), contact: (id) => this.contacts.get(id), confirm: (id) => this.confirm(id) });
    this.server = new LocalSendServer(
      logger,
      {
        info: () => this.shortSelf(),
        register: (body, caller) => this.onRegister(body, caller),
        prepareUpload: (body, q, caller, closed) => this.receiver.prepareUpload(body, q, caller, closed),
        upload: (q, req, caller) => this.receiver.upload(q, req, caller),
        cancel: (q, caller) => this.receiver.cancel(q, caller),
      },
      init.http ? null : tls,
    );
    this.discovery = new LocalSendDiscovery(
      { clock, logger, self: () => this.self(), heard: (info, address) => this.heard(info, address, null) !== null, register: (info, address) => this.register(info, address) },
      { ...(init.bind !== undefined ? { bind: init.bind } : {}), port: init.port, ...(init.group ? { group: init.group } : {}), extraAddresses: init.extraAddresses },
    );
  }

  /** The TCP port the server listens on. */
  get port(): number {
    return this.server.port || this.init.port;
  }

  get fingerprint(): string {
    return this.deps.cert.fingerprint;
  }

  owns(peerId: string): boolean {
    return this.contacts.has(peerId);
  }

  ownsTransfer(transferId: string): boolean {
    const t = this.deps.service.ledger.get(transferId);
    return !!t && this.contacts.has(t.peer);
  }

  async start(): Promise<void> {
    if (this.started) return;
    // Transfers left open by an earlier run: a LocalSend session does not outlive the program.
    const ledger = this.deps.service.ledger;
    for (const t of ledger.list(100000)) {
      if (!this.contacts.has(t.peer) || isFinishedTransfer(t.state) || t.direction !== 'in') continue;
      // LocalSend cannot resume: the partial files of a receive cut off by a crash go.
      for (const e of ledger.entries(t.id)) if (e.localPath && !e.done) rmSync(e.localPath + PART_SUFFIX, { force: true });
    }
    ledger.failOpen((t) => this.contacts.has(t.peer), 'Pigeon was restarted; LocalSend sessions end with the program (send again)');
    await this.server.start(this.init.bind, this.init.port);
    try {
      await this.discovery.start();
    } catch (err) {
      await this.server.stop();
      throw err;
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const c of this.channels.values()) c.close('stopping');
    this.channels.clear();
    this.receiver.stop();
    this.sender.stop();
    await this.discovery.stop();
    await this.server.stop();
  }

  update(): void {
    if (this.started) this.discovery.announce(false);
  }

  /** The messenger has messages for this contact: open its channel. */
  ensure(peerId: string): void {
    if (this.reachable.has(peerId)) this.channel(peerId);
  }

  offer(peerId: string, paths: string[], pin?: string): Promise<TransferInfo> {
    return this.sender.offer(peerId, paths, pin);
  }

  accept(transfer: string, files?: number[]): Promise<TransferInfo> {
    return this.receiver.accept(transfer, files);
  }

  decline(transfer: string): TransferInfo {
    return this.receiver.decline(transfer);
  }

  cancel(transfer: string): Promise<TransferInfo> {
    const t = this.deps.service.find(transfer);
    return t.direction === 'out' ? this.sender.cancel(transfer) : this.receiver.cancelTransfer(transfer);
  }

  // ---- what we say about ourselves --------------------------------------------------

  /** Our announcement / register body (§3.1). */
  self(): DeviceInfo {
    return {
      alias: this.deps.alias() || 'Pigeon',
      version: LOCALSEND_VERSION,
      deviceModel: PIGEON_MODEL,
      deviceType: this.init.deviceType,
      fingerprint: this.deps.cert.fingerprint,
      port: this.port,
      protocol: this.init.http ? 'http' : 'https',
      download: false,
    };
  }

  /** The register answer and /info: no port or protocol, the caller knows them (§3.2, §6.1). */
  private shortSelf(): Omit<DeviceInfo, 'port' | 'protocol'> {
    const { port: _p, protocol: _q, ...rest } = this.self();
    return rest;
  }

  // ---- contacts ------------------------------------------------------------------

  /** A device described itself: one contact per fingerprint (the certificate's, when it presented one). */
  private heard(info: DeviceInfo, address: string, certFp: string | null): LocalSendContact | null {
    const fp = certFp ?? info.fingerprint;
    if (fp === this.deps.cert.fingerprint) return null;
    if (info.deviceModel === PIGEON_MODEL && !this.init.acceptPigeons) return null;
    const prev = this.contacts.get(contactFrom(info, address, fp).id);
    // prepare-upload's info may lack port/protocol of the sender's server: keep what discovery said.
    const c = this.contacts.put({ ...contactFrom(info, address, fp, info.port ?? prev?.port), ...(info.protocol === undefined && prev ? { protocol: prev.protocol } : {}) });
    if (!c) return null;
    this.reachable.add(c.id);
    this.deps.sink.seen(sightingOf(c, LOCALSEND_TTL_MS));
    return c;
  }

  private confirm(id: string): void {
    this.contacts.confirm(id);
    this.deps.sink.confirm?.(id);
  }

  private onRegister(body: string, caller: Caller): Answer {
    const info = parseJson(DeviceInfo, body);
    if (!info) return { status: 400 };
    this.heard(info, caller.address, caller.certFingerprint);
    return { status: 200, json: this.shortSelf() };
  }

  /** Answers an announcement with POST /register; its answer describes the device too. */
  private async register(info: DeviceInfo, address: string): Promise<boolean> {
    const contact = { address, port: info.port ?? this.init.port, protocol: info.protocol ?? ('https' as const), fingerprint: info.fingerprint, alias: info.alias };
    try {
      const r = await lsRequest({ contact, tls: { keyPem: this.deps.cert.keyPem, certPem: this.deps.cert.certPem }, ...(this.init.bind ? { localAddress: this.init.bind } : {}) }, { route: 'register', json: this.self(), idleMs: REGISTER_MS });
      if (r.status !== 200) return false;
      const answer = parseJson(DeviceInfo, r.body);
      if (answer && answer.fingerprint === info.fingerprint) this.heard({ ...answer, port: contact.port, protocol: contact.protocol }, address, null);
      return true;
    } catch (err) {
      this.deps.logger.log('debug', 'LocalSend register failed', { to: address, error: (err as Error).message });
      return false;
    }
  }

  private channel(peerId: string): LocalSendChannel {
    const open = this.channels.get(peerId);
    if (open?.isOpen) return open;
    const channel = new LocalSendChannel(peerId, {
      sendText: (text) => this.sender.sendText(peerId, text),
      newId: () => this.deps.random.hex(16),
      now: () => this.deps.clock.now(),
      failed: (reason) => {
        // Shown offline until heard again (its next answer to our announcement): then the outbox goes again.
        this.deps.logger.log('info', 'LocalSend message not taken; it waits in the outbox until the device is heard again', { contact: peerId, reason });
        this.reachable.delete(peerId);
        this.deps.sink.gone(peerId, 'localsend');
      },
    });
    this.channels.set(peerId, channel);
    channel.onClose(() => {
      if (this.channels.get(peerId) === channel) this.channels.delete(peerId);
    });
    this.deps.openChannel(channel);
    return channel;
  }
}
