/**
 * The liveness chain of discovery packets (docs/protocol/pigeon-v1.md §4.3.1):
 * a cheap proof that an unchanged `alive` comes from the peer that signed the
 * packets before it, so a receiver can skip the ECDSA check of the steady-state
 * refresh that every colleague sends every 4 s (at 150 peers, 37 checks a second
 * were about half of the CPU an idle peer spent on datagrams).
 *
 * The sender draws a random value c[L−1] and computes c[i] = H(c[i+1]) down to
 * c[0], where H is SHA-256 cut to 16 bytes. It reveals the values in the order
 * c[0], c[1], …: member `lv` is the value, `li` its index, one step per send
 * to every target. Each packet is signed as always, so every checked signature
 * binds a (li, lv) pair; from then on only the holder of the chain can produce
 * a value that hashes, in li' − li steps, to the last one the receiver accepted.
 * Values that were revealed are worthless to a forger: the next one is a
 * preimage of them. When the chain runs out the sender draws a new one; its
 * first packet does not hash to the old values, so receivers check its
 * signature once and continue from it.
 */
import { hash, randomBytes } from 'node:crypto';

/**
 * Values per chain: 1024 sends is about 68 minutes of refreshes at one every
 * 4 s; holding them takes 16 KiB. Computing them costs 2.2 ms in a warm
 * loop, but 18–26 ms of CPU in a process that just started (`crypto.hash`
 * not yet compiled; docs/benchmarks.md "Start cost in a crowd"). When it
 * runs out, each colleague checks one signature for the new chain.
 */
export const CHAIN_LENGTH = 1024;

/**
 * Values of the first chain, drawn while the peer starts: 128 sends, about
 * 8.5 minutes of refreshes, an eighth of the computing at the moment 150
 * peers of an office start at once; the next chain, full length, is drawn
 * when this one runs out, long after the crowd. Costs each colleague one
 * signature check more per start of a peer (75–300 µs each; in an office
 * of 150, 10–45 ms per peer, once, minutes after the crowd).
 */
export const FIRST_CHAIN_LENGTH = 128;
/**
 * Bytes of each value: a forger must find a 128-bit preimage of SHA-256; the
 * base64 form is 24 characters, so a packet grows by about 40 bytes (`,"li":N,"lv":"…"`).
 */
export const CHAIN_VALUE_BYTES = 16;
/**
 * Most steps a receiver hashes to link a value to the last one it accepted:
 * 16 refreshes (about a minute) lost in a row; a larger gap means the peer was
 * offline anyway, and its signature is checked instead. Bounds what a forged
 * `li` costs: 16 hashes, about 20 µs.
 */
export const MAX_CHAIN_STEPS = 16;

/**
 * One step down the chain: SHA-256 of the value, cut to CHAIN_VALUE_BYTES.
 * crypto.hash, not createHash: the one-shot form makes no Hash object, and in
 * an idle peer (one call every few ms, cold caches) createHash().digest() was
 * 45 % of the CPU of an accepted alive in a profile (`npm run bench:office-idle`).
 */
export function chainStep(value: Uint8Array): Buffer {
  return hash('sha256', value, 'buffer').subarray(0, CHAIN_VALUE_BYTES);
}

/**
 * Does `value` (at index `index`) hash, in `index − lastIndex` steps, to
 * `last` (at `lastIndex`)? False for a gap of 0, a negative one, or one over
 * MAX_CHAIN_STEPS.
 */
export function chainLinks(value: Uint8Array, index: number, last: Uint8Array, lastIndex: number): boolean {
  const steps = index - lastIndex;
  if (!Number.isSafeInteger(steps) || steps < 1 || steps > MAX_CHAIN_STEPS || value.length !== CHAIN_VALUE_BYTES) return false;
  let v: Uint8Array = value;
  for (let i = 0; i < steps; i++) v = chainStep(v);
  return Buffer.compare(v, last) === 0;
}

/** The sender's side: the chain it reveals, one value per send. */
export class LivenessChain {
  private values: Buffer[] = [];
  /** The global index of values[0]: `li` keeps growing across chains. */
  private base = 0;
  private at = 0;

  /** `length`: the values of every later chain; the first has at most FIRST_CHAIN_LENGTH. */
  constructor(private readonly length = CHAIN_LENGTH) {
    this.values = LivenessChain.draw(Math.min(length, FIRST_CHAIN_LENGTH));
  }

  /** What the next packets carry: the value revealed last and its index. */
  current(): { li: number; lv: string } {
    return { li: this.base + this.at, lv: this.values[this.at]!.toString('base64') };
  }

  /** Reveals the next value (a send to every target); draws a new chain when this one is used up. */
  advance(): void {
    if (this.at + 1 < this.values.length) {
      this.at++;
      return;
    }
    this.base += this.values.length;
    this.at = 0;
    this.values = LivenessChain.draw(this.length);
  }

  private static draw(length: number): Buffer[] {
    const values = new Array<Buffer>(length);
    values[length - 1] = randomBytes(CHAIN_VALUE_BYTES);
    for (let i = length - 2; i >= 0; i--) values[i] = chainStep(values[i + 1]!);
    return values;
  }
}
