// In-process state store: the embedded default. Correct for one replica only, since nothing is
// shared between processes; deps.ts announces that loudly at start-up.
import type { Clock } from '../clock.ts'
import { systemClock } from '../clock.ts'
import type { Lease, StateStore } from './state-store.ts'

type Entry = { value: string; expiresAt: number | null }

/** Creates a memory-backed StateStore. Expired keys are dropped on read and by a periodic sweep. */
export function createMemoryStateStore(
  options: { clock?: Clock; sweepIntervalMs?: number } = {},
): StateStore {
  const clock = options.clock ?? systemClock
  const entries = new Map<string, Entry>()
  const fences = new Map<string, number>()

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key)
    if (entry && entry.expiresAt !== null && entry.expiresAt <= clock.now()) {
      entries.delete(key)
      return undefined
    }
    return entry
  }
  const put = (key: string, value: string, ttlMs?: number) => {
    entries.set(key, { value, expiresAt: ttlMs === undefined ? null : clock.now() + ttlMs })
  }
  const sweep = setInterval(() => {
    for (const key of entries.keys()) live(key)
  }, options.sweepIntervalMs ?? 30_000)
  sweep.unref?.()
  const leaseKey = (name: string) => `lease:${name}`

  return {
    kind: 'memory',
    shared: false,
    async get(key) {
      return live(key)?.value ?? null
    },
    async getMany(keys) {
      return keys.map((key) => live(key)?.value ?? null)
    },
    // One process: every read is already local.
    async getManyCached(keys: readonly string[]) {
      return keys.map((key) => live(key)?.value ?? null)
    },
    async set(key, value, opts) {
      put(key, value, opts?.ttlMs)
    },
    async setIfAbsent(key, value, opts) {
      if (live(key)) return false
      put(key, value, opts?.ttlMs)
      return true
    },
    async increment(key, opts) {
      const entry = live(key)
      const next = (entry ? Number(entry.value) : 0) + (opts.by ?? 1)
      if (!Number.isSafeInteger(next)) throw new Error(`value at ${key} is not an integer`)
      if (entry) entry.value = String(next)
      else put(key, String(next), opts.ttlMs)
      return next
    },
    async getAndDelete(key) {
      const value = live(key)?.value ?? null
      entries.delete(key)
      return value
    },
    async delete(key) {
      const existed = live(key) !== undefined
      entries.delete(key)
      return existed
    },
    async compareAndSet(key, expected, next, opts) {
      const current = live(key)?.value ?? null
      if (current !== expected) return false
      if (next === null) entries.delete(key)
      else put(key, next, opts?.ttlMs)
      return true
    },
    async ttl(key) {
      const entry = live(key)
      return entry?.expiresAt == null ? null : entry.expiresAt - clock.now()
    },
    async acquireLease(name, holder, ttlMs) {
      const key = leaseKey(name)
      const current = live(key)
      if (current && JSON.parse(current.value).holder !== holder) return null
      const fence = current ? (JSON.parse(current.value).fence as number) : (fences.get(name) ?? 0) + 1
      fences.set(name, fence)
      put(key, JSON.stringify({ holder, fence }), ttlMs)
      return { name, holder, fence, ttlMs }
    },
    async renewLease(lease: Lease, ttlMs = lease.ttlMs) {
      const key = leaseKey(lease.name)
      const current = live(key)
      if (!current || current.value !== JSON.stringify({ holder: lease.holder, fence: lease.fence }))
        return false
      current.expiresAt = clock.now() + ttlMs
      return true
    },
    async releaseLease(lease: Lease) {
      const key = leaseKey(lease.name)
      const current = live(key)
      if (!current || current.value !== JSON.stringify({ holder: lease.holder, fence: lease.fence }))
        return false
      entries.delete(key)
      return true
    },
    async ping() {
      return 0
    },
    async close() {
      clearInterval(sweep)
      entries.clear()
    },
  }
}
