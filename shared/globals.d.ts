/**
 * The few web-standard globals that shared/ code uses. They exist in Node, in
 * browsers and in Electron alike, but shared/ compiles with neither DOM nor node
 * types (see docs/architecture.md), so they are declared here, narrowly.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
