// Abuse resistance of the sign-in endpoints, with counters in the state store (atomic increments,
// shared by every replica):
// - per client address (IPv6: per /64) and endpoint, a fixed window of one minute;
// - per account, failed attempts: after 5 in the hour each further attempt must wait
//   2^(failures - 5) seconds (at most 30) after the last one, and after `failuresPerHour` the
//   account refuses attempts until the hour ends. Waiting is a delay, not a lockout: an attacker
//   needs about 45 minutes to reach 100 failures, and the owner can sign in in every gap.
// Counters are keyed by a hash of the email as typed, whether or not the account exists, so the
// answers for unknown and known accounts are the same.
import { createHash } from 'node:crypto'
import { rateLimitBucket } from '../http/client-address.ts'
import { TooManyRequestsError } from '../http/errors.ts'
import { type Clock, systemClock } from '../platform/clock.ts'
import type { StateStore } from '../platform/state/state-store.ts'

export type RateLimits = { perAddressPerMinute: number; failuresPerHour: number }

const hour = 3_600_000
const accountKey = (email: string) =>
  createHash('sha256').update(email.trim().toLowerCase()).digest('base64url').slice(0, 22)

/** Delay after the n-th failure in the hour, in seconds. */
export const delayAfterFailures = (n: number) => (n < 5 ? 0 : Math.min(30, 2 ** (n - 5)))

export class SignInThrottle {
  constructor(
    private readonly state: StateStore,
    private readonly limits: RateLimits,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Counts one request of a client address to an endpoint class; 429 past the limit. `onFirst`
   * runs once per window when the limit is first passed (to record it without flooding). */
  async hit(endpoint: string, address: string | undefined, onFirst?: () => Promise<void>): Promise<void> {
    const key = `auth:rl:${endpoint}:${rateLimitBucket(address)}`
    const count = await this.state.increment(key, { ttlMs: 60_000 })
    if (count === this.limits.perAddressPerMinute + 1) await onFirst?.()
    if (count > this.limits.perAddressPerMinute)
      throw new TooManyRequestsError(
        'rate_limited',
        'Too many requests from this address; try again later.',
        ((await this.state.ttl(key)) ?? 60_000) / 1000,
      )
  }

  /** Refuses an attempt on an account that must wait (progressive delay) or is at its hourly cap. */
  async checkAccount(email: string): Promise<void> {
    const id = accountKey(email)
    const [count, last] = await Promise.all([
      this.state.get(`auth:fail:${id}`),
      this.state.get(`auth:fail-at:${id}`),
    ])
    const failures = Number(count ?? 0)
    if (failures >= this.limits.failuresPerHour)
      throw new TooManyRequestsError(
        'too_many_failed_attempts',
        'Too many failed sign-in attempts for this account; try again later.',
        ((await this.state.ttl(`auth:fail:${id}`)) ?? hour) / 1000,
      )
    const wait = delayAfterFailures(failures) * 1000 - (this.clock.now() - Number(last ?? 0))
    if (wait > 0)
      throw new TooManyRequestsError(
        'too_many_failed_attempts',
        'Too many failed sign-in attempts for this account; wait before trying again.',
        wait / 1000,
      )
  }

  /** Counts a failed attempt; returns the failures in the hour so far. */
  async recordFailure(email: string): Promise<number> {
    const id = accountKey(email)
    const failures = await this.state.increment(`auth:fail:${id}`, { ttlMs: hour })
    await this.state.set(`auth:fail-at:${id}`, String(this.clock.now()), { ttlMs: hour })
    return failures
  }

  async recordSuccess(email: string): Promise<void> {
    const id = accountKey(email)
    await Promise.all([this.state.delete(`auth:fail:${id}`), this.state.delete(`auth:fail-at:${id}`)])
  }
}
