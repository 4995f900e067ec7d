// The shared short-lived state every replica sees: sessions, revocations, idempotency records,
// rate-limit counters, SSO handshakes, leases. Values are strings (callers encode JSON).
// Implementations: redis.ts (ioredis), upstash.ts (REST), memory.ts (one process only).
// test/integration/state-store.contract.test.ts runs the same contract against all three.

import type { TrackedCacheStats } from './tracked-cache.ts'

export type StateStoreKind = 'memory' | 'redis' | 'upstash'

/** The state store could not be reached (down, restarting, timed out): a request that needed it
 * answers 503 state_store_unavailable with Retry-After, not an opaque 500. */
export class StateStoreUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`the state store is unavailable: ${(cause as Error)?.message ?? String(cause)}`)
    this.name = 'StateStoreUnavailableError'
  }
}

/** A held lease. `fence` grows with every successful acquisition of the same name, so a writer
 * can reject work from a holder whose lease has since passed to someone else. */
export type Lease = { name: string; holder: string; fence: number; ttlMs: number }

export interface StateStore {
  readonly kind: StateStoreKind
  /** True when the store is shared between replicas (false for memory). */
  readonly shared: boolean
  get(key: string): Promise<string | null>
  /** Several values in one round trip, in order (null where absent). With Redis Cluster the keys
   * must share a hash slot: give them the same `{tag}`. */
  getMany(keys: string[]): Promise<(string | null)[]>
  /** getMany for values read on nearly every request (a session and its revocation). The Redis
   * store (standalone or Sentinel) may answer from this replica's copy, which Redis keeps current
   * by pushing invalidations (tracked-cache.ts); writes through this store drop the copy first.
   * Every other store reads as getMany does. Pass the same array for the same keys, and never
   * change it: the store keeps its work on the names per array. */
  getManyCached(keys: readonly string[]): Promise<(string | null)[]>
  /** Sets a value; with ttlMs it expires, without it lives until deleted. */
  set(key: string, value: string, options?: { ttlMs?: number }): Promise<void>
  /** Sets only when the key does not exist. Returns whether it was set. */
  setIfAbsent(key: string, value: string, options?: { ttlMs?: number }): Promise<boolean>
  /** Atomically adds `by` (default 1) and returns the new value; the TTL is set only when the
   * counter is created, so a fixed window does not slide with each hit. */
  increment(key: string, options: { ttlMs: number; by?: number }): Promise<number>
  /** Atomically reads and removes a value (one-time tokens, SSO handshakes). */
  getAndDelete(key: string): Promise<string | null>
  /** Removes a key. Returns whether it existed. */
  delete(key: string): Promise<boolean>
  /** Atomically replaces `expected` with `next` (null means absent / delete). Returns whether it
   * swapped. With ttlMs the new value expires; without it the new value does not. */
  compareAndSet(
    key: string,
    expected: string | null,
    next: string | null,
    options?: { ttlMs?: number },
  ): Promise<boolean>
  /** Remaining time to live in ms; null when the key is absent or has no expiry. */
  ttl(key: string): Promise<number | null>
  /** Takes the named lease if it is free or already ours (then extends it). */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<Lease | null>
  /** Extends a lease we hold. False when it expired or someone else holds it now. */
  renewLease(lease: Lease, ttlMs?: number): Promise<boolean>
  /** Gives a lease back. False when we no longer held it. */
  releaseLease(lease: Lease): Promise<boolean>
  /** How the copy behind getManyCached is doing (Redis standalone or Sentinel only). */
  cacheStats?(): TrackedCacheStats | undefined
  /** Round trip to the backing store in ms; throws when it is unreachable. */
  ping(): Promise<number>
  close(): Promise<void>
}
