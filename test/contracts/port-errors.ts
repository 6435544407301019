/**
 * How the store ports refuse, as the contract suites assert it: one place, so the suites say
 * "the lease was lost" or "the page token is bad" rather than how either is spelled.
 */
import { expect } from 'vitest';
import { BadPageToken, LeaseLost } from '../../functions/core/ports';

/** Marks a call that did not throw. */
export const NO_ERROR = Symbol('no error');

/**
 * What `act` threw (or `NO_ERROR`), awaited at once: a refusal is caught where it happens, never
 * left pending as an unhandled rejection while the test awaits something else.
 */
export async function failure(act: Promise<unknown>): Promise<unknown> {
  try {
    await act;
    return NO_ERROR;
  } catch (error) {
    return error;
  }
}

/** The write was refused because this request no longer holds the conversation's lease. */
export function expectLeaseLost(error: unknown): void {
  expect(error, 'expected the write to be refused as a lost lease').toBeInstanceOf(LeaseLost);
}

/** The page token was refused: not one the store issued. */
export function expectBadPageToken(error: unknown): void {
  expect(error, 'expected the page token to be refused').toBeInstanceOf(BadPageToken);
}

/** The write was refused by its condition (the port names no error for it): something was thrown. */
export function expectRefused(error: unknown): void {
  expect(error, 'expected the write to be refused').not.toBe(NO_ERROR);
  expect(error).toBeInstanceOf(Error);
}
