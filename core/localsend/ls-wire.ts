/**
 * The LocalSend protocol (v2.1, localsend/protocol) on the wire: its
 * defaults, the schemas every JSON body is checked against before use, and
 * the limits that bound what a stranger can make us read. Nothing here does
 * I/O; docs/protocol/localsend.md explains each field and quirk.
 */
import { z } from 'zod/v3';

/** LocalSend's default UDP and TCP port (protocol §1); every LocalSend app uses it unless its user changed it. */
export const LOCALSEND_PORT = 53317;
/** Its default multicast group: inside 224.0.0.0/24 because some Android devices refuse any other group (protocol §1). */
export const LOCALSEND_GROUP = '224.0.0.167';
/** The protocol version we announce: 2.1 (PIN and metadata, protocol CHANGELOG). */
export const LOCALSEND_VERSION = '2.1';
/**
 * The deviceModel Pigeon announces. Another Pigeon is reached natively
 * (encrypted, with its pinned key), so by default a device announcing this
 * model is not made a LocalSend twin of it (the IPMsg bridge does the same).
 */
export const PIGEON_MODEL = 'Pigeon';
/** Path prefix of every route. */
export const API = '/api/localsend/v2';

/** Largest announcement / register body: a device description is a few hundred bytes; 16 KiB leaves room for long aliases. */
export const MAX_INFO_BYTES = 16 * 1024;
/** Largest prepare-upload body: 10,000 file descriptions with text previews fit; a stranger's 1 GB body is cut off here. */
export const MAX_PREPARE_BYTES = 8 * 1024 * 1024;
/** Most files in one prepare-upload: the native offer's cap (shared/api sendFiles takes at most 10,000 paths). */
export const MAX_FILES = 10_000;
/** Longest text we take from a field that is only shown (alias, model, file type). */
const MAX_SHOWN = 256;
/** Longest file name with its folders: the landing rules' own path limit (shared/transfer/safe-name.ts). */
const MAX_FILE_NAME = 4096;
/** Longest preview: LocalSend sends a text message as its preview; 1 MiB is a long letter, far past a chat message. */
const MAX_PREVIEW = 1024 * 1024;

/** Device types the document lists (§7.1); anything else is shown as 'desktop', as the official app does. */
export const DEVICE_TYPES = ['mobile', 'desktop', 'web', 'headless', 'server'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export function deviceTypeOf(value: string | null | undefined): DeviceType {
  return (DEVICE_TYPES as readonly string[]).includes(value ?? '') ? (value as DeviceType) : 'desktop';
}

const shown = z.string().max(MAX_SHOWN);

/** A device as announce, register, info and prepare-upload describe it (§3, §4.1, §6.1). Unknown fields are ignored. */
export const DeviceInfo = z.object({
  alias: z.string().min(1).max(MAX_SHOWN),
  version: z.string().max(16).optional(),
  deviceModel: shown.nullable().optional(),
  deviceType: shown.nullable().optional(),
  fingerprint: z.string().min(1).max(MAX_SHOWN),
  port: z.number().int().min(1).max(65535).optional(),
  protocol: z.enum(['http', 'https']).optional(),
  download: z.boolean().optional(),
  announce: z.boolean().optional(),
});
export type DeviceInfo = z.infer<typeof DeviceInfo>;

/** One file of a prepare-upload (§4.1). */
export const FileDto = z.object({
  id: z.string().min(1).max(MAX_SHOWN),
  fileName: z.string().min(1).max(MAX_FILE_NAME),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  fileType: shown.optional().default('application/octet-stream'),
  sha256: z.string().max(128).nullable().optional(),
  preview: z.string().max(MAX_PREVIEW).nullable().optional(),
  metadata: z.object({ modified: z.string().max(64).nullable().optional(), accessed: z.string().max(64).nullable().optional() }).nullable().optional(),
});
export type FileDto = z.infer<typeof FileDto>;

export const PrepareUpload = z.object({
  info: DeviceInfo,
  files: z.record(z.string().max(MAX_SHOWN), FileDto).refine((f) => Object.keys(f).length <= MAX_FILES, `at most ${MAX_FILES} files`),
});
export type PrepareUpload = z.infer<typeof PrepareUpload>;

/** The receiver's answer to prepare-upload: a session and a token per accepted file id. */
export const PrepareAnswer = z.object({
  sessionId: z.string().min(1).max(MAX_SHOWN),
  files: z.record(z.string().max(MAX_SHOWN), z.string().max(MAX_SHOWN)),
});
export type PrepareAnswer = z.infer<typeof PrepareAnswer>;

/** Parses JSON text against a schema; null when it is not JSON or does not fit (the caller answers 400 or drops it). */
export function parseJson<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, text: string): T | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const r = schema.safeParse(raw);
  return r.success ? r.data : null;
}
