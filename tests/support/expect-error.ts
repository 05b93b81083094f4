/**
 * Assertions shared by the unit and fuzz tests: "this throws a PigeonError
 * with that code", and the decoder contract "a valid value or
 * PigeonError(PROTOCOL), never anything else".
 */
import { expect } from 'vitest';
import { ErrorCodes, PigeonError } from '../../shared/protocol/errors.js';

/** Asserts that fn throws a PigeonError with `code` (and a message matching `message`); returns it. */
export function expectPigeonError(fn: () => unknown, code: string = ErrorCodes.PROTOCOL, message?: RegExp): PigeonError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PigeonError);
  expect((caught as PigeonError).code).toBe(code);
  if (message) expect((caught as PigeonError).message).toMatch(message);
  return caught as PigeonError;
}

/** A decoder either returns a value that passes `valid`, or throws PigeonError(PROTOCOL). */
export function expectValidOrProtocolError<T>(decode: () => T, valid: (value: T) => boolean): void {
  let result: T;
  try {
    result = decode();
  } catch (err) {
    expect(err).toBeInstanceOf(PigeonError);
    expect((err as PigeonError).code).toBe(ErrorCodes.PROTOCOL);
    return;
  }
  expect(valid(result)).toBe(true);
}

/** expectPigeonError with code PROTOCOL. */
export function expectProtocolError(fn: () => unknown, message?: RegExp): PigeonError {
  return expectPigeonError(fn, ErrorCodes.PROTOCOL, message);
}
