// Reading a figure a query must return. `Number(x) >= 0` passes on null (Number(null) is 0), and
// `.not.toBeNull()` passes on an absent field: `figure` fails on both, then gives the number.
import { expect } from 'vitest'

/** The numeric value of `value` (a number, or the string postgres.js gives for bigint/numeric);
 * fails when it is null, absent or not a number. */
export function figure(value: unknown, what = 'the figure'): number {
  expect(typeof value === 'number' || typeof value === 'string', `${what} is ${String(value)}`).toBe(true)
  const number = Number(value)
  expect(Number.isFinite(number), `${what} is ${String(value)}`).toBe(true)
  return number
}
