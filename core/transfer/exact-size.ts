/**
 * Exact sizes (issue 13, finding 7): a receiver takes exactly the bytes a
 * sender declared for a file, on every transport (native data connections,
 * files left on the relay, IPMsg files and folder streams). Bytes past the
 * declared size are refused before they are written; a file that ends short
 * is never `done`. Both fail the file with PIGEON_ERR_SIZE_MISMATCH.
 */
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';

/**
 * The error for a sender whose bytes differ from what it declared. The code
 * is repeated in the text, because a transfer keeps only the text of its error.
 */
export function sizeMismatch(what: string, detail: string): PigeonError {
  return new PigeonError(ErrorCodes.SIZE_MISMATCH, `${what}: ${detail}; what arrived of it was deleted (${ErrorCodes.SIZE_MISMATCH})`);
}

/** Counts the bytes of one file (or one folder stream) against its declared size. */
export class ExactSize {
  private got: number;

  /** `start`: bytes already received earlier (a resumed file). */
  constructor(
    private readonly what: string,
    private readonly declared: number,
    start = 0,
  ) {
    this.got = start;
  }

  get received(): number {
    return this.got;
  }

  /** Bytes that may still come. */
  get room(): number {
    return this.declared - this.got;
  }

  /** Counts `n` more bytes; throws SIZE_MISMATCH (counting nothing) if they go past the declared size. */
  take(n: number): void {
    if (n > this.room) throw sizeMismatch(this.what, `the sender sent more than the ${this.declared} bytes it declared`);
    this.got += n;
  }

  /** Throws SIZE_MISMATCH unless every declared byte arrived. */
  end(): void {
    if (this.got !== this.declared) throw sizeMismatch(this.what, `the sender ended after ${this.got} of the ${this.declared} bytes it declared`);
  }
}
