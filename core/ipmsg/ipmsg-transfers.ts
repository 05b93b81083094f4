/**
 * Files and folders with IPMsg contacts, in the same transfers list as native
 * transfers (same store, same events, same accept / decline / cancel, same
 * landing plan and safe-name rules), over the IPMsg mechanism: an offer is a
 * SENDMSG with FILEATTACHOPT and an attachment list; the receiver fetches
 * each attached item with GETFILEDATA / GETDIRFILES over TCP (file-server.ts,
 * file-fetch.ts). IPMsg has no accept message: the first request marks an
 * outgoing transfer accepted. As in IP Messenger, an offer lives as long as
 * the program: transfers still open at start-up are marked failed.
 * An adapter of the transfer ledger (core/transfer/ledger.ts): it reads
 * rows there and reports progress, finished entries and errors; the ledger
 * writes every row and state.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { isFinishedTransfer, type TransferInfo } from '../../shared/api/control-api.js';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';
import { buildManifest } from '../transfer/manifest.js';
import { PART_SUFFIX, type TransferService } from '../transfer/transfer-service.js';
import type { Logger, Random, Clock, TimerHandle } from '../util/components.js';
import { fileIdCandidates, formatAttachments, formatFileRequest, parseAttachments, type Attachment, type FileRequest } from './attach-codec.js';
import { encodeText, type Charset } from './charset.js';
import { Cmd, FileType, MsgOpt, Opt } from './constants.js';
import { readCharset, type IpmsgContact } from './contact-book.js';
import { fetchDir, fetchFile, partialBytes } from './file-fetch.js';
import { FileServer, type ServeTarget, type ServedEntry } from './file-server.js';
import type { IpmsgBridge } from './ipmsg-bridge.js';
import type { IpmsgFiles } from './ipmsg-files.js';
import { RETRY_MS } from './ipmsg-channel.js';
import type { IpmsgPacket } from './packet-codec.js';

/** The offer SENDMSG is resent as often as messages are (RETRY_MS), this many times, until RECVMSG. */
const OFFER_ATTEMPTS = 3;
/** A download cut off is tried again after this long, up to RECEIVE_TRIES tries in all (an IPMsg offer lives only while its sender runs). */
const RECEIVE_RETRY_MS = 2000;
const RECEIVE_TRIES = 4;

interface OutgoingOffer {
  transfer: string;
  contact: string;
  /** Decimal file id → entry index. */
  files: Map<string, number>;
  confirmed: boolean;
}

interface IncomingOffer {
  contact: string;
  packetNo: number;
  utf8: boolean;
  /** Entry index → attachment. */
  attachments: Attachment[];
}

/**
 * The TCP request must come from the contact's address, as the official
 * client requires. One exception: a client on this machine bound to another
 * loopback address connects from 127.0.0.1, the kernel's choice for an
 * unbound socket (iptux -b 127.0.0.2 does, observed).
 */
function sameHost(contactAddress: string, remote: string): boolean {
  return contactAddress === remote || (contactAddress.startsWith('127.') && remote === '127.0.0.1');
}

export class IpmsgTransfers implements IpmsgFiles {
  private readonly outgoing = new Map<number, OutgoingOffer>();
  private readonly incoming = new Map<string, IncomingOffer>();
  private readonly incomingByPacket = new Map<string, string>();
  private readonly running = new Map<string, AbortController>();
  private readonly tries = new Map<string, number>();
  /** Resends of offers and retries of interrupted receives: cleared on stop(). */
  private readonly retryTimers = new Set<TimerHandle>();
  private readonly server: FileServer;

  constructor(
    private readonly deps: { bridge: IpmsgBridge; service: TransferService; logger: Logger; random: Random; clock: Clock; downloads: string },
  ) {
    this.server = new FileServer(deps.logger, (req, kind, remote) => this.serve(req, kind, remote));
  }

  /** Opens the TCP side of the IPMsg port; marks transfers left open by an earlier run failed. */
  async start(bind: string | undefined, port: number): Promise<void> {
    const { service, bridge } = this.deps;
    service.ledger.failOpen((t) => bridge.owns(t.peer), 'Pigeon was restarted; IPMsg offers end with the program that made them (ask for the files again)');
    await this.server.start(bind, port);
  }

  async stop(): Promise<void> {
    for (const t of this.retryTimers) this.deps.clock.clear(t);
    this.retryTimers.clear();
    for (const c of this.running.values()) c.abort();
    await this.server.stop();
  }

  // ---- sender -------------------------------------------------------------------

  async offer(peerId: string, paths: string[]): Promise<TransferInfo> {
    const { bridge, service, random, clock } = this.deps;
    const c = bridge.book.get(peerId);
    if (!c) throw new PigeonError(ErrorCodes.PEER_NOT_FOUND, 'not an IPMsg contact');
    const manifest = await buildManifest(paths);
    const id = random.hex(16);
    const entries = manifest.entries.map((e, i) => ({ path: e.path, kind: e.kind, size: e.size, mtime: Math.max(0, Math.floor(e.mtimeMs)), source: manifest.sources[i]! }));
    service.ledger.create({ id, peer: peerId, direction: 'out', state: 'offered', created: clock.now(), totalBytes: manifest.totalBytes, fileCount: manifest.fileCount }, entries);
    const files = new Map<string, number>();
    const attachments: Attachment[] = [];
    entries.forEach((e, idx) => {
      if (e.path.includes('/')) return;
      const fileId = String(attachments.length + 1);
      files.set(fileId, idx);
      // A folder is announced with the bytes of everything in it: iptux files a folder of size 0 as already received (observed).
      const size = e.kind === 'file' ? e.size : entries.reduce((n, x) => n + (x.kind === 'file' && x.path.startsWith(e.path + '/') ? x.size : 0), 0);
      attachments.push({ id: fileId, name: e.path, size, mtime: Math.floor(e.mtime / 1000), attr: e.kind === 'file' ? FileType.REGULAR : FileType.DIR });
    });
    const build = (cs: Charset): Buffer => Buffer.concat([encodeText('', cs), Buffer.from([0]), formatAttachments(attachments, cs), Buffer.from([0])]);
    const options = MsgOpt.SENDCHECK | Opt.FILEATTACH;
    const packetNo = bridge.sendBuilt(c, Cmd.SENDMSG, options, build);
    const offer: OutgoingOffer = { transfer: id, contact: peerId, files, confirmed: false };
    this.outgoing.set(packetNo, offer);
    this.resendOffer(c, packetNo, options, build, 1);
    return service.ledger.infoOf(id);
  }

  private resendOffer(c: IpmsgContact, packetNo: number, options: number, build: (cs: Charset) => Buffer, attempt: number): void {
    if (attempt >= OFFER_ATTEMPTS) return;
    const t = this.deps.clock.setTimeout(() => {
      this.retryTimers.delete(t);
      const o = this.outgoing.get(packetNo);
      if (!o || o.confirmed) return;
      this.deps.bridge.sendBuilt(this.deps.bridge.book.get(c.id) ?? c, Cmd.SENDMSG, options | MsgOpt.RETRY, build, packetNo);
      this.resendOffer(c, packetNo, options, build, attempt + 1);
    }, RETRY_MS);
    this.retryTimers.add(t);
  }

  /** RECVMSG for an offer. */
  confirmed(packetNo: number): void {
    const o = this.outgoing.get(packetNo);
    if (o) o.confirmed = true;
  }

  /** RELEASEFILES: the receiver discarded our attachments. */
  released(contactId: string, packetNo: number): void {
    const o = this.outgoing.get(packetNo);
    if (!o || o.contact !== contactId) return;
    const t = this.deps.service.ledger.get(o.transfer);
    if (!t || isFinishedTransfer(t.state)) return;
    this.deps.service.ledger.move(t.id, t.state === 'offered' ? 'declined' : 'done');
  }

  private serve(req: FileRequest, kind: 'file' | 'dir', remote: string): ServeTarget {
    const { service, bridge } = this.deps;
    const o = this.outgoing.get(req.packetNo);
    if (!o) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, `no offer with packet number ${req.packetNo}`);
    const c = bridge.book.get(o.contact);
    // The official client serves only the host the offer went to (share.cpp); so do we.
    if (!c || !sameHost(c.address, remote)) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, `request from ${remote}, not from the contact the files were offered to`);
    const t = service.ledger.get(o.transfer);
    if (!t || (t.state !== 'offered' && t.state !== 'accepted')) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, `the transfer is ${t?.state ?? 'gone'}`);
    const idx = fileIdCandidates(req.fileIdText).map((n) => o.files.get(String(n))).find((i) => i !== undefined);
    const top = idx === undefined ? null : service.ledger.entry(t.id, idx);
    if (!top || top.kind !== kind || !top.source) throw new PigeonError(ErrorCodes.TRANSFER_NOT_FOUND, `no ${kind} with id ${req.fileIdText} in the offer`);
    if (t.state === 'offered') service.ledger.move(t.id, 'accepted');
    const all = service.ledger.entries(t.id);
    const tree = kind === 'file' ? [top] : all.filter((e) => e.path === top.path || e.path.startsWith(top.path + '/'));
    const served: ServedEntry[] = tree.map((e) => ({
      rel: e.path === top.path ? '' : e.path.slice(top.path.length + 1),
      name: e.path.slice(e.path.lastIndexOf('/') + 1),
      kind: e.kind,
      size: e.size,
      mtime: Math.floor(e.mtime / 1000),
      source: e.source ?? '',
    }));
    return {
      entries: served,
      charset: c.utf8 ? 'utf-8' : c.charset,
      onBytes: (n) => service.ledger.progress(t.id, n),
      onDone: () => {
        for (const e of tree) service.ledger.entryDone(t.id, e.idx);
        const left = service.ledger.entries(t.id).filter((e) => !e.path.includes('/') && !e.done);
        // Either the last item makes it done (announced by the move), or the new entry done is announced.
        if (!(left.length === 0 && service.ledger.get(t.id)?.state === 'accepted' && service.ledger.move(t.id, 'done'))) service.ledger.report(t.id);
      },
    };
  }

  // ---- receiver -------------------------------------------------------------

  /** A SENDMSG with FILEATTACHOPT: an incoming offer (once per packet number, however often it is resent). */
  offered(c: IpmsgContact, p: IpmsgPacket, list: Buffer): void {
    const { service, clock, random, logger } = this.deps;
    const key = `${c.id}:${p.packetNo}`;
    if (this.incomingByPacket.has(key)) return;
    let attachments: Attachment[];
    try {
      attachments = parseAttachments(list, (p.options & Opt.UTF8) !== 0, readCharset(c));
    } catch (err) {
      logger.log('info', 'IPMsg attachment list not understood', { contact: c.id, error: (err as Error).message });
      return;
    }
    if (attachments.length === 0) return;
    const id = random.hex(16);
    const files = attachments.filter((a) => (a.attr & 0xff) === FileType.REGULAR);
    // A folder's size is what the sender announced: its bytes for iptux and Pigeon, often 0 for others (the count of its files is unknown).
    // Known before the ledger announces it: an accept in answer to the event finds the offer.
    this.incomingByPacket.set(key, id);
    this.incoming.set(id, { contact: c.id, packetNo: p.packetNo, utf8: (p.options & Opt.UTF8) !== 0, attachments });
    service.ledger.create(
      { id, peer: c.id, direction: 'in', state: 'offered', created: clock.now(), totalBytes: attachments.reduce((n, a) => n + a.size, 0), fileCount: files.length },
      attachments.map((a) => ({ path: a.name, kind: (a.attr & 0xff) === FileType.DIR ? 'dir' : 'file', size: a.size, mtime: a.mtime * 1000 })),
    );
    if (!service.autoAccepts(c.id)) return;
    // A folder announced as 0 bytes has no declared size to hold its stream to (file-fetch.ts): --accept-from
    // does not take it unseen, the user accepts it by hand.
    const unsized = attachments.filter((a) => (a.attr & 0xff) === FileType.DIR && a.size === 0).map((a) => a.name);
    if (unsized.length > 0) logger.log('warn', 'IPMsg offer left for the user: a folder of undeclared size is not accepted automatically', { transfer: id, folders: unsized.join(', ') });
    else void this.accept(id).catch((err: Error) => logger.log('warn', 'auto-accept failed', { error: err.message }));
  }

  owns(transferId: string): boolean {
    const t = this.deps.service.ledger.get(transferId);
    return !!t && this.deps.bridge.owns(t.peer);
  }

  async accept(query: string, files?: number[]): Promise<TransferInfo> {
    const { service } = this.deps;
    const t = service.find(query);
    if (t.direction !== 'in') throw new PigeonError(ErrorCodes.BAD_REQUEST, 'only the receiver accepts a transfer');
    if (t.state !== 'offered') throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    if (!this.incoming.has(t.id)) throw new PigeonError(ErrorCodes.TRANSFER_FAILED, 'this IPMsg offer is no longer available (Pigeon was restarted)');
    await mkdir(this.deps.downloads, { recursive: true });
    service.ledger.plan(t.id, service.plan(service.ledger.entries(t.id), files ? new Set(files) : null));
    service.ledger.move(t.id, 'accepted');
    void this.receive(t.id);
    return service.ledger.infoOf(t.id);
  }

  decline(query: string): TransferInfo {
    const { service, bridge } = this.deps;
    const t = service.find(query);
    if (t.direction !== 'in' || t.state !== 'offered') throw new PigeonError(ErrorCodes.BAD_REQUEST, `cannot decline a transfer that is ${t.direction === 'out' ? 'outgoing' : t.state}`);
    service.ledger.move(t.id, 'declined');
    const o = this.incoming.get(t.id);
    const c = o && bridge.book.get(o.contact);
    if (o && c) bridge.sendTo(c, Cmd.RELEASEFILES, 0, String(o.packetNo));
    return service.ledger.infoOf(t.id);
  }

  async cancel(query: string): Promise<TransferInfo> {
    const { service } = this.deps;
    const t = service.find(query);
    if (isFinishedTransfer(t.state)) throw new PigeonError(ErrorCodes.BAD_REQUEST, `the transfer is already ${t.state}`);
    this.running.get(t.id)?.abort();
    // Partial files of a download waiting for its next try go too (a running one removes its own).
    if (t.direction === 'in') {
      for (const e of service.ledger.entries(t.id)) if (e.kind === 'file' && e.localPath && !e.done) await unlink(e.localPath + PART_SUFFIX).catch(() => {});
    }
    service.ledger.move(t.id, 'canceled', { error: 'canceled' });
    return service.ledger.infoOf(t.id);
  }

  private async receive(id: string): Promise<void> {
    const { service, bridge, logger } = this.deps;
    const o = this.incoming.get(id);
    const c = o && bridge.book.get(o.contact);
    if (!o || !c || this.running.has(id) || service.ledger.get(id)?.state !== 'accepted') return;
    const controller = new AbortController();
    this.running.set(id, controller);
    let kind: 'file' | 'dir' = 'file';
    try {
      for (const e of service.ledger.entries(id)) {
        if (!e.wanted || e.done || !e.localPath) continue;
        if (controller.signal.aborted) return;
        kind = e.kind;
        const a = o.attachments[e.idx]!;
        const command = e.kind === 'file' ? Cmd.GETFILEDATA : Cmd.GETDIRFILES;
        // A file cut off by an earlier try goes on from its partial bytes (the sender honours the offset).
        const offset = e.kind === 'file' ? partialBytes(e.localPath, e.size) : 0;
        const target = {
          address: c.address,
          port: c.port,
          ...(bridge.bindAddress ? { localAddress: bridge.bindAddress } : {}),
          request: bridge.requestPacket(c, command, o.utf8 ? Opt.UTF8 : 0, formatFileRequest(o.packetNo, a.id, e.kind === 'file' ? offset : null)),
          onBytes: (n: number) => service.ledger.progress(id, n),
          signal: controller.signal,
        };
        if (e.kind === 'file') await fetchFile(target, e.size, e.localPath, Math.floor(e.mtime / 1000), offset);
        else await fetchDir(target, e.localPath, o.utf8, readCharset(c), e.size);
        service.ledger.entryDone(id, e.idx);
      }
      service.ledger.move(id, 'done');
    } catch (err) {
      if (controller.signal.aborted) return;
      const e = err as PigeonError;
      // A cut connection is tried again a few times (files resume); a bad stream, a full disk or an unsafe name is final.
      const tries = (this.tries.get(id) ?? 0) + 1;
      this.tries.set(id, tries);
      // A folder is not resumed: its stream cannot start in the middle, and a second pass would number what the first wrote.
      // Otherwise the ledger decides by the error's code (FINAL_CODES in ledger.ts).
      const verdict = service.ledger.failed(id, e, { lastTry: kind === 'dir' || tries >= RECEIVE_TRIES });
      logger.log('info', verdict === 'final' ? 'IPMsg transfer failed' : 'IPMsg transfer interrupted; will try again', { transfer: id, error: e.message, tries });
      if (verdict === 'retry') {
        const t = this.deps.clock.setTimeout(() => {
          this.retryTimers.delete(t);
          void this.receive(id);
        }, RECEIVE_RETRY_MS);
        this.retryTimers.add(t);
      }
    } finally {
      this.running.delete(id);
    }
  }
}
