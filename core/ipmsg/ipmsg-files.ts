/**
 * What the IPMsg bridge (ipmsg-bridge.ts) and the peer ask of the IPMsg file
 * side (ipmsg-transfers.ts), as an interface: the bridge holds one without
 * importing the module that implements it, which imports the bridge. That
 * keeps the import graph of core/ free of cycles (tests/unit/import-cycles).
 */
import type { TransferInfo } from '../../shared/api/control-api.js';
import type { IpmsgContact } from './contact-book.js';
import type { IpmsgPacket } from './packet-codec.js';

export interface IpmsgFiles {
  /** A SENDMSG with FILEATTACHOPT: an incoming offer. */
  offered(c: IpmsgContact, p: IpmsgPacket, list: Buffer): void;
  /** RECVMSG for an offer. */
  confirmed(packetNo: number): void;
  /** RELEASEFILES: the receiver discarded our attachments. */
  released(contactId: string, packetNo: number): void;
  stop(): Promise<void>;
  /** The peer's side: offers to IPMsg contacts and the answers to theirs. */
  offer(peerId: string, paths: string[]): Promise<TransferInfo>;
  owns(transferId: string): boolean;
  accept(query: string, files?: number[]): Promise<TransferInfo>;
  decline(query: string): TransferInfo;
  cancel(query: string): Promise<TransferInfo>;
}
