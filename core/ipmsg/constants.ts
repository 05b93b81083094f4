/**
 * IP Messenger protocol constants: command numbers, option flags, file
 * attributes and limits, as defined by the official header
 * (shirouzu/ipmsg src/ipmsg.h, protocol draft 14) and quoted in
 * docs/protocol/ipmsg.md. Only the values the bridge uses are listed.
 */

/** The IPMsg port: UDP for presence and messages, TCP (same number) for files. Fixed in every client. */
export const IPMSG_PORT = 2425;

/** Version field we send. FeiQ ignores peers whose version does not start with "1_" (iptux#206, #219); IPMsg for Windows accepts anything that atoi()s to 1. */
export const IPMSG_VERSION_FIELD = '1_pigeon';

/** Command numbers (low 8 bits of the command field). */
export const Cmd = {
  BR_ENTRY: 0x01,
  BR_EXIT: 0x02,
  ANSENTRY: 0x03,
  BR_ABSENCE: 0x04,
  SENDMSG: 0x20,
  RECVMSG: 0x21,
  READMSG: 0x30,
  ANSREADMSG: 0x32,
  GETINFO: 0x40,
  SENDINFO: 0x41,
  GETABSENCEINFO: 0x50,
  SENDABSENCEINFO: 0x51,
  GETFILEDATA: 0x60,
  RELEASEFILES: 0x61,
  GETDIRFILES: 0x62,
} as const;

/** Options valid with every command (entry capabilities and charset). */
export const Opt = {
  ABSENCE: 0x00000100,
  FILEATTACH: 0x00200000,
  UTF8: 0x00800000,
  CAPUTF8: 0x01000000,
} as const;

/** Options of SENDMSG (they overlap numerically with the entry options: the meaning depends on the command). */
export const MsgOpt = {
  SENDCHECK: 0x00000100,
  SECRET: 0x00000200,
  BROADCAST: 0x00000400,
  AUTORET: 0x00002000,
  RETRY: 0x00004000,
  READCHECK: 0x00100000,
} as const;

/** File types: the low 8 bits of a file attribute. */
export const FileType = {
  REGULAR: 0x1,
  DIR: 0x2,
  RETPARENT: 0x3,
} as const;

/** The command number is the low 8 bits of the command field; the rest are option flags. */
export const COMMAND_MASK = 0xff;

/** Largest datagram read or written: the official client's MAX_UDPBUF (32 KiB); bigger ones are dropped unread. */
export const MAX_UDP_PACKET = 32 * 1024;

/** Longest user, host, nickname or group label (bytes on the wire): longer nicknames and groups are cut, as MAX_LABEL_CHARS does for native peers; a longer user or host name drops the packet. */
export const MAX_LABEL_BYTES = 256;

/** Most attachments accepted in one offer; the official client sends far fewer (one per dropped file). */
export const MAX_ATTACHMENTS = 1000;

/** Longest file name accepted in an attachment or directory stream (bytes): above every file system's 255-byte limit in multi-byte charsets. */
export const MAX_FILE_NAME_BYTES = 1024;

/** Longest GETDIRFILES header (its 4-hex-digit size field already caps it at 0xffff). */
export const MAX_DIR_HEADER_BYTES = 0xffff;

/** Separator of attachment entries (FILELIST_SEPARATOR). */
export const FILELIST_SEPARATOR = 0x07;
