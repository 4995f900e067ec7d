// One StateStore contract, run against every implementation on real servers: memory, Redis
// (standalone, TLS with a private CA and an ACL user, Sentinel, Cluster) and Upstash through a
// REST bridge in front of the run's Redis. Plus what only some stores have: connection failures,
// key prefixes on the server, Cluster slots.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Clock } from '../../src/platform/clock.ts'
import { createStateStore } from '../../src/platform/state/create-state-store.ts'
import { createMemoryStateStore } from '../../src/platform/state/memory.ts'
import { createRedisStateStore } from '../../src/platform/state/redis.ts'
import type { StateStore } from '../../src/platform/state/state-store.ts'
import { createUpstashStateStore } from '../../src/platform/state/upstash.ts'
import { freePort } from '../harness/processes.ts'
import {
  startRedisCluster,
  startRedisSentinel,
  startTlsRedis,
  type TestRedisCluster,
  type TestRedisSentinel,
  type TestTlsRedis,
} from '../harness/redis-topologies.ts'
import { startUpstashBridge, type UpstashBridge } from '../harness/upstash-bridge.ts'
import { type ManualClock, manualClock } from '../support/manual-clock.ts'
import { standaloneRedisStore } from '../support/redis-store.ts'
import { until } from '../support/until.ts'

const uniquePrefix = () => `test:state:${randomUUID()}:`
const standalone = standaloneRedisStore

/** A TTL the tests wait out (by polling, or by moving an injected clock). */
const EXPIRING_MS = 200
/** A TTL that must outlast a few round trips on a loaded machine before the test moves on. */
const BRIEF_MS = 3_000
/** A TTL nothing in a test outlives. */
const LASTING_MS = 60_000

/**
 * Registers the StateStore contract for one implementation. `makeStore` is called in beforeAll
 * (so an enclosing describe can start servers first) with a key prefix unique to the call.
 * `network` adds what only remote stores promise: operations reject after close(), and a ping
 * that takes time. `clock` is the store's injected clock: time then passes by moving it, at once;
 * without it the tests poll until the server expired the key, within a generous deadline.
 */
function describeStateStoreContract(
  name: string,
  makeStore: (keyPrefix: string) => StateStore | Promise<StateStore>,
  options: { network: boolean; clock?: ManualClock },
) {
  describe(`StateStore contract: ${name}`, () => {
    const opened: StateStore[] = []
    const open = async (keyPrefix = uniquePrefix()) => {
      const store = await makeStore(keyPrefix)
      opened.push(store)
      return store
    }
    let store: StateStore
    let counter = 0
    const key = (label: string) => `${label}:${++counter}`
    /** Lets `ms` pass for the store: moves the injected clock; on a server, time passes anyway. */
    const pass = (ms: number) => options.clock?.advance(ms)
    /** Waits until `key` is gone (the server expired it). */
    const expired = (key: string) =>
      until(`${name}: ${key} expires`, async () => (await store.get(key)) === null, { timeoutMs: 15_000 })
    /** Tests that wait out TTLs run side by side on a real server; the shared manual clock of the
     * memory store must not move under another test. */
    const waiting = options.clock ? it : it.concurrent

    beforeAll(async () => {
      store = await open()
    })
    afterAll(async () => {
      await Promise.all(opened.map((s) => s.close()))
    })

    it('gets what was set, null when absent, and overwrites', async () => {
      const k = key('plain')
      expect(await store.get(k)).toBeNull()
      await store.set(k, 'one')
      expect(await store.get(k)).toBe('one')
      await store.set(k, 'two ✓ {"json": true}')
      expect(await store.get(k)).toBe('two ✓ {"json": true}')
      expect(await store.ttl(k)).toBeNull()
    })

    waiting('expires a value set with a TTL, and a later set without TTL persists', async () => {
      const lasting = key('ttl-lasting')
      await store.set(lasting, 'long', { ttlMs: LASTING_MS })
      const ttl = (await store.ttl(lasting)) as number
      expect(ttl).toBeGreaterThan(LASTING_MS / 2)
      expect(ttl).toBeLessThanOrEqual(LASTING_MS)

      const k = key('ttl')
      await store.set(k, 'short', { ttlMs: EXPIRING_MS })
      pass(EXPIRING_MS)
      await expired(k)
      expect(await store.ttl(k)).toBeNull()
      expect(await store.get(lasting)).toBe('long')

      // The control key is set after the first TTL of `kept`, so it expires after that would have.
      const kept = key('ttl-then-plain')
      const control = key('ttl-control')
      await store.set(kept, 'a', { ttlMs: EXPIRING_MS })
      await store.set(control, 'c', { ttlMs: EXPIRING_MS })
      await store.set(kept, 'b')
      expect(await store.ttl(kept)).toBeNull()
      pass(EXPIRING_MS)
      await expired(control)
      expect(await store.get(kept)).toBe('b')
    })

    waiting('setIfAbsent sets once, then refuses until the key expires', async () => {
      const k = key('nx')
      expect(await store.setIfAbsent(k, 'first', { ttlMs: LASTING_MS })).toBe(true)
      expect(await store.setIfAbsent(k, 'second')).toBe(false)
      expect(await store.get(k)).toBe('first')
      expect(await store.ttl(k)).toBeGreaterThan(LASTING_MS / 2)

      const brief = key('nx-expiring')
      expect(await store.setIfAbsent(brief, 'first', { ttlMs: EXPIRING_MS })).toBe(true)
      pass(EXPIRING_MS)
      await until(
        `${name}: setIfAbsent succeeds once ${brief} expired`,
        () => store.setIfAbsent(brief, 'third'),
        {
          timeoutMs: 15_000,
        },
      )
      expect(await store.get(brief)).toBe('third')
      expect(await store.ttl(brief)).toBeNull()
      expect(await store.get(k)).toBe('first')
    })

    it('increment counts 1, 2, 3 and sets the TTL only when the counter is created', async () => {
      const k = key('counter')
      expect(await store.increment(k, { ttlMs: LASTING_MS })).toBe(1)
      const first = (await store.ttl(k)) as number
      expect(first).toBeGreaterThan(LASTING_MS / 2)
      expect(first).toBeLessThanOrEqual(LASTING_MS)
      // A later hit with a longer window must not push the expiry out.
      expect(await store.increment(k, { ttlMs: 10 * LASTING_MS })).toBe(2)
      expect(await store.ttl(k)).toBeLessThanOrEqual(first)
      expect(await store.increment(k, { ttlMs: 10 * LASTING_MS })).toBe(3)
      expect(await store.ttl(k)).toBeLessThanOrEqual(first)
      expect(await store.get(k)).toBe('3')
    })

    waiting('increment starts over once the window expired, and adds `by`', async () => {
      const k = key('window')
      expect(await store.increment(k, { ttlMs: EXPIRING_MS })).toBe(1)
      expect(await store.increment(k, { ttlMs: EXPIRING_MS })).toBe(2)
      pass(EXPIRING_MS)
      await expired(k)
      expect(await store.increment(k, { ttlMs: EXPIRING_MS })).toBe(1)

      const by = key('by')
      expect(await store.increment(by, { ttlMs: LASTING_MS, by: 5 })).toBe(5)
      expect(await store.increment(by, { ttlMs: LASTING_MS, by: 3 })).toBe(8)
      expect(await store.increment(by, { ttlMs: LASTING_MS, by: -2 })).toBe(6)
    })

    it('getMany returns values in order, null where absent, in one call', async () => {
      // One hash tag, as Redis Cluster needs for a multi-key read.
      const base = key('getmany')
      const a = `${base}:{gm}:a`
      const b = `${base}:{gm}:b`
      await store.set(a, 'one')
      await store.set(b, 'two', { ttlMs: 60_000 })
      expect(await store.getMany([b, `${base}:{gm}:missing`, a])).toEqual(['two', null, 'one'])
      expect(await store.getMany([])).toEqual([])
    })

    it('getManyCached answers what getMany answers, and after a write through the store the new value', async () => {
      const base = key('cached')
      const a = `${base}:{gc}:a`
      const b = `${base}:{gc}:b`
      await store.set(a, 'one')
      expect(await store.getManyCached([a, b])).toEqual(['one', null])
      // Read a few times so a store with a copy has filled it (it arms in the background).
      for (let i = 0; i < 5; i++) expect(await store.getManyCached([a, b])).toEqual(['one', null])
      await store.set(b, 'two')
      expect(await store.getManyCached([a, b])).toEqual(['one', 'two'])
      await store.delete(a)
      expect(await store.getManyCached([a, b])).toEqual([null, 'two'])
      expect(await store.compareAndSet(b, 'two', 'three')).toBe(true)
      expect(await store.getManyCached([a, b])).toEqual([null, 'three'])
      expect(await store.getManyCached([])).toEqual([])
    })

    it('getAndDelete returns the value once, then null', async () => {
      const k = key('once')
      expect(await store.getAndDelete(k)).toBeNull()
      await store.set(k, 'token')
      expect(await store.getAndDelete(k)).toBe('token')
      expect(await store.getAndDelete(k)).toBeNull()
      expect(await store.get(k)).toBeNull()
    })

    it('getAndDelete gives the value to exactly one of 20 parallel callers', async () => {
      const k = key('race-take')
      await store.set(k, 'prize')
      const results = await Promise.all(Array.from({ length: 20 }, () => store.getAndDelete(k)))
      expect(results.filter((r) => r === 'prize')).toHaveLength(1)
      expect(results.filter((r) => r === null)).toHaveLength(19)
    })

    it('delete reports whether the key existed', async () => {
      const k = key('delete')
      expect(await store.delete(k)).toBe(false)
      await store.set(k, 'x')
      expect(await store.delete(k)).toBe(true)
      expect(await store.get(k)).toBeNull()
      expect(await store.delete(k)).toBe(false)
    })

    it('compareAndSet swaps on a match only; null means absent or delete', async () => {
      const k = key('cas')
      expect(await store.compareAndSet(k, 'nothing', 'x')).toBe(false)
      expect(await store.get(k)).toBeNull()
      expect(await store.compareAndSet(k, null, 'a')).toBe(true)
      expect(await store.get(k)).toBe('a')
      expect(await store.compareAndSet(k, null, 'b')).toBe(false)
      expect(await store.compareAndSet(k, 'a', 'b')).toBe(true)
      expect(await store.get(k)).toBe('b')
      expect(await store.compareAndSet(k, 'a', 'c')).toBe(false)
      expect(await store.get(k)).toBe('b')
      expect(await store.compareAndSet(k, 'b', null)).toBe(true)
      expect(await store.get(k)).toBeNull()
      expect(await store.compareAndSet(k, 'b', null)).toBe(false)
    })

    waiting('compareAndSet applies its ttl option, and without it the new value persists', async () => {
      const k = key('cas-ttl')
      await store.set(k, 'v1')
      expect(await store.compareAndSet(k, 'v1', 'v2', { ttlMs: LASTING_MS })).toBe(true)
      expect(await store.ttl(k)).toBeGreaterThan(LASTING_MS / 2)

      const brief = key('cas-expiring')
      await store.set(brief, 'v1')
      expect(await store.compareAndSet(brief, 'v1', 'v2', { ttlMs: EXPIRING_MS })).toBe(true)
      pass(EXPIRING_MS)
      await expired(brief)

      const persists = key('cas-persist')
      await store.set(persists, 'old', { ttlMs: LASTING_MS })
      expect(await store.compareAndSet(persists, 'old', 'new')).toBe(true)
      expect(await store.ttl(persists)).toBeNull()
      expect(await store.get(persists)).toBe('new')
    })

    it('lets exactly one of 50 parallel setIfAbsent calls win', async () => {
      const k = key('race-nx')
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.setIfAbsent(k, `caller-${i}`)),
      )
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await store.get(k)).toBe(`caller-${results.indexOf(true)}`)
    })

    it('counts 50 parallel increments exactly', async () => {
      const k = key('race-incr')
      const results = await Promise.all(
        Array.from({ length: 50 }, () => store.increment(k, { ttlMs: 10_000 })),
      )
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
      expect(await store.get(k)).toBe('50')
    })

    waiting('leases: one holder at a time; re-acquiring sets the new TTL and keeps the fence', async () => {
      const name = key('lease')
      const lease = await store.acquireLease(name, 'replica-a', BRIEF_MS)
      // Set after the lease, so it expires after the lease's first TTL would have.
      const control = key('lease-control')
      await store.set(control, 'x', { ttlMs: BRIEF_MS })
      expect(lease).toEqual({ name, holder: 'replica-a', fence: 1, ttlMs: BRIEF_MS })
      expect(await store.acquireLease(name, 'replica-b', BRIEF_MS)).toBeNull()

      const longer = await store.acquireLease(name, 'replica-a', LASTING_MS)
      expect(longer).toEqual({ name, holder: 'replica-a', fence: 1, ttlMs: LASTING_MS })
      pass(BRIEF_MS)
      await expired(control)
      expect(await store.acquireLease(name, 'replica-b', BRIEF_MS)).toBeNull()

      // Re-acquiring with a shorter TTL shortens it too: the lease is free once that passed.
      const shorter = await store.acquireLease(name, 'replica-a', EXPIRING_MS)
      expect(shorter).toEqual({ name, holder: 'replica-a', fence: 1, ttlMs: EXPIRING_MS })
      pass(EXPIRING_MS)
      const taken = await until(`${name}: replica-b takes the lease`, () =>
        store.acquireLease(name, 'replica-b', LASTING_MS),
      )
      expect(taken).toEqual({ name, holder: 'replica-b', fence: 2, ttlMs: LASTING_MS })
    })

    waiting('leases: renew and release only by the holder of that fence', async () => {
      const name = key('lease-renew')
      const lease =
        (await store.acquireLease(name, 'replica-a', BRIEF_MS)) ?? expect.fail('lease not acquired')
      const control = key('lease-renew-control')
      await store.set(control, 'x', { ttlMs: BRIEF_MS })
      expect(lease.fence).toBe(1)
      expect(await store.renewLease({ ...lease, holder: 'replica-b' })).toBe(false)
      expect(await store.renewLease({ ...lease, fence: lease.fence + 1 })).toBe(false)
      expect(await store.renewLease(lease, LASTING_MS)).toBe(true)
      pass(BRIEF_MS)
      await expired(control) // past the first TTL, inside the renewed one
      expect(await store.acquireLease(name, 'replica-b', BRIEF_MS)).toBeNull()

      expect(await store.releaseLease({ ...lease, holder: 'replica-b' })).toBe(false)
      expect(await store.releaseLease(lease)).toBe(true)
      expect(await store.releaseLease(lease)).toBe(false)
      const next =
        (await store.acquireLease(name, 'replica-b', LASTING_MS)) ?? expect.fail('lease not acquired')
      expect(next).toEqual({ name, holder: 'replica-b', fence: 2, ttlMs: LASTING_MS })
    })

    waiting('leases: after expiry another holder gets a larger fence and the old holder loses', async () => {
      const name = key('lease-expiry')
      const old =
        (await store.acquireLease(name, 'replica-a', EXPIRING_MS)) ?? expect.fail('lease not acquired')
      expect(old.fence).toBe(1)
      pass(EXPIRING_MS)
      const taken = await until(`${name}: replica-b takes the expired lease`, () =>
        store.acquireLease(name, 'replica-b', LASTING_MS),
      )
      expect(taken).toEqual({ name, holder: 'replica-b', fence: 2, ttlMs: LASTING_MS })
      expect(await store.renewLease(old)).toBe(false)
      expect(await store.releaseLease(old)).toBe(false)
      expect(await store.acquireLease(name, 'replica-a', EXPIRING_MS)).toBeNull()
      expect(await store.renewLease(taken)).toBe(true)
    })

    it('keeps stores with different key prefixes apart', async () => {
      const other = await open()
      const k = key('shared-name')
      await store.set(k, 'mine')
      expect(await other.get(k)).toBeNull()
      await other.set(k, 'theirs')
      expect(await store.get(k)).toBe('mine')
      expect(await other.getAndDelete(k)).toBe('theirs')
      expect(await store.get(k)).toBe('mine')

      const lease = key('shared-lease')
      expect(await store.acquireLease(lease, 'replica-a', LASTING_MS)).toMatchObject({
        holder: 'replica-a',
        fence: 1,
      })
      expect(await other.acquireLease(lease, 'replica-b', LASTING_MS)).toMatchObject({
        holder: 'replica-b',
        fence: 1,
      })
    })

    it('ping returns the round trip in milliseconds', async () => {
      const started = performance.now()
      const ms = await store.ping()
      const elapsed = performance.now() - started
      if (options.network) {
        // Measured inside the call, so within what the caller saw.
        expect(ms).toBeGreaterThan(0)
        expect(ms).toBeLessThanOrEqual(elapsed)
      } else expect(ms).toBe(0)
    })

    if (options.network) {
      it('rejects operations after close()', async () => {
        const closing = await open()
        await closing.set('before-close', 'x')
        expect(await closing.getManyCached(['before-close'])).toEqual(['x'])
        await closing.close()
        await expect(closing.get('before-close')).rejects.toThrow()
        await expect(closing.getManyCached(['before-close'])).rejects.toThrow()
        await expect(closing.set('after-close', 'x')).rejects.toThrow()
        await expect(closing.acquireLease('after-close', 'a', 1000)).rejects.toThrow()
        await expect(closing.ping()).rejects.toThrow()
        await closing.close()
      })
    }
  })
}

const memoryClock = manualClock()
describeStateStoreContract('memory', () => createMemoryStateStore({ clock: memoryClock }), {
  network: false,
  clock: memoryClock,
})

describe('memory state store specifics', () => {
  it('expires by the injected clock and reports the remaining TTL from it', async () => {
    let now = 1_000_000
    const clock: Clock = { now: () => now, monotonic: () => now }
    const store = createMemoryStateStore({ clock, sweepIntervalMs: 10 })
    await store.set('k', 'v', { ttlMs: 1000 })
    now += 999
    expect(await store.ttl('k')).toBe(1)
    expect(await store.get('k')).toBe('v')
    now += 1
    expect(await store.get('k')).toBeNull()
    expect(store.shared).toBe(false)
    await store.close()
  })

  it('is what createStateStore returns for the memory kind', async () => {
    const store = createStateStore({ kind: 'memory' })
    expect(store.kind).toBe('memory')
    await store.close()
  })
})

describeStateStoreContract('redis standalone', (keyPrefix) => standalone(inject('redisUrl'), keyPrefix), {
  network: true,
})

describe('redis standalone specifics', () => {
  it('writes every key under its prefix, lease keys with a shared hash tag', async () => {
    const keyPrefix = uniquePrefix()
    const store = standalone(inject('redisUrl'), keyPrefix)
    const raw = new Redis(inject('redisUrl'))
    try {
      await store.set('k', 'v')
      await store.acquireLease('sealer', 'replica-a', 5000)
      expect(await raw.get(`${keyPrefix}k`)).toBe('v')
      expect(await raw.get(`${keyPrefix}lease:{sealer}`)).toBe('{"holder":"replica-a","fence":1}')
      expect(await raw.get(`${keyPrefix}lease-fence:{sealer}`)).toBe('1')
      expect(await raw.pttl(`${keyPrefix}lease-fence:{sealer}`)).toBe(-1)
    } finally {
      await store.close()
      raw.disconnect()
    }
  })

  it('refuses a key prefix with braces, which would break the Cluster hash tag', () => {
    expect(() => standalone(inject('redisUrl'), 'bad{prefix}:')).toThrow(/must not contain/)
  })

  it('rejects ping within a few seconds when nothing listens on the port', async () => {
    const store = standalone(`redis://127.0.0.1:${await freePort()}`, uniquePrefix(), {
      connectTimeoutMs: 1000,
    })
    try {
      await expect(store.ping()).rejects.toThrow()
      await expect(store.set('k', 'v')).rejects.toThrow()
    } finally {
      await store.close()
    }
  }, 10_000)

  it('rejects ping within a few seconds in cluster mode when no seed answers', async () => {
    const store = createRedisStateStore({
      url: `redis://127.0.0.1:${await freePort()}`,
      mode: 'cluster',
      sentinels: [],
      sentinelMaster: 'mymaster',
      clusterNodes: [],
      keyPrefix: uniquePrefix(),
      connectTimeoutMs: 1000,
    })
    try {
      await expect(store.ping()).rejects.toThrow()
    } finally {
      await store.close()
    }
  }, 10_000)

  it('reads the URL without ever putting the password into an error', () => {
    expect(() => standalone('redis://:hunter2@[bad', uniquePrefix())).toThrow(/not a valid URL/)
    try {
      standalone('redis://:hunter2@[bad', uniquePrefix())
    } catch (error) {
      expect(String(error)).not.toContain('hunter2')
    }
  })
})

describe('upstash through a REST bridge to the run Redis', () => {
  const token = randomUUID()
  let bridge: UpstashBridge
  beforeAll(async () => {
    bridge = await startUpstashBridge(inject('redisUrl'), token)
  })
  afterAll(async () => {
    await bridge?.stop()
  })

  describeStateStoreContract(
    'upstash',
    (keyPrefix) => createStateStore({ kind: 'upstash', url: bridge.url, token, keyPrefix }),
    { network: true },
  )

  it('shares the key layout with the Redis store', async () => {
    const keyPrefix = uniquePrefix()
    const viaRest = createUpstashStateStore({ url: bridge.url, token, keyPrefix })
    const viaTcp = standalone(inject('redisUrl'), keyPrefix)
    try {
      await viaRest.set('k', 'from-rest')
      expect(await viaTcp.get('k')).toBe('from-rest')
      const lease =
        (await viaTcp.acquireLease('sealer', 'replica-a', 5000)) ?? expect.fail('lease not acquired')
      expect(await viaRest.acquireLease('sealer', 'replica-b', 5000)).toBeNull()
      expect(await viaRest.renewLease(lease)).toBe(true)
      expect(await viaRest.releaseLease(lease)).toBe(true)
    } finally {
      await Promise.all([viaRest.close(), viaTcp.close()])
    }
  })

  it('rejects with a wrong token, without the command in the error', async () => {
    const store = createUpstashStateStore({ url: bridge.url, token: 'wrong', keyPrefix: uniquePrefix() })
    await expect(store.ping()).rejects.toThrow(/Unauthorized/)
    const error = await store.set('k', 'secret-value').catch((e: unknown) => e)
    expect(String(error)).not.toContain('secret-value')
    await store.close()
  })
})

describe('redis over TLS with a private CA and an ACL user', () => {
  let tls: TestTlsRedis
  beforeAll(async () => {
    tls = await startTlsRedis()
  })
  afterAll(async () => {
    await tls?.stop()
  })

  describeStateStoreContract(
    'redis tls',
    (keyPrefix) =>
      createStateStore({
        kind: 'redis',
        url: `${tls.url}/2`,
        mode: 'standalone',
        sentinels: [],
        sentinelMaster: 'mymaster',
        clusterNodes: [],
        tlsCaFile: tls.caFile,
        keyPrefix,
      }),
    { network: true },
  )

  it('uses the database index from the URL', async () => {
    const keyPrefix = uniquePrefix()
    const store = standalone(`${tls.url}/2`, keyPrefix, { tlsCaPem: tls.caPem })
    const raw = new Redis({
      host: '127.0.0.1',
      port: tls.port,
      username: tls.username,
      password: tls.password,
      db: 2,
      tls: { ca: tls.caPem },
    })
    try {
      await store.set('k', 'in-db-2')
      expect(await raw.get(`${keyPrefix}k`)).toBe('in-db-2')
      await raw.select(0)
      expect(await raw.get(`${keyPrefix}k`)).toBeNull()
    } finally {
      await store.close()
      raw.disconnect()
    }
  })

  it('refuses a server its CA did not sign, and a wrong password', async () => {
    const untrusted = standalone(tls.url, uniquePrefix(), { connectTimeoutMs: 1000 })
    const wrongPassword = standalone(tls.url.replace(tls.password, 'wrong'), uniquePrefix(), {
      tlsCaPem: tls.caPem,
      connectTimeoutMs: 1000,
    })
    try {
      await expect(untrusted.ping()).rejects.toThrow()
      await expect(wrongPassword.ping()).rejects.toThrow()
    } finally {
      await Promise.all([untrusted.close(), wrongPassword.close()])
    }
  }, 15_000)
})

describe('redis through Sentinel', () => {
  let sentinel: TestRedisSentinel
  beforeAll(async () => {
    sentinel = await startRedisSentinel()
  })
  afterAll(async () => {
    await sentinel?.stop()
  })

  describeStateStoreContract(
    'redis sentinel',
    (keyPrefix) =>
      createStateStore({
        kind: 'redis',
        url: `redis://:${sentinel.masterPassword}@127.0.0.1`,
        mode: 'sentinel',
        sentinels: sentinel.sentinels,
        sentinelMaster: sentinel.masterName,
        clusterNodes: [],
        keyPrefix,
      }),
    { network: true },
  )

  it('writes to the master the Sentinel names', async () => {
    const keyPrefix = uniquePrefix()
    const store = createRedisStateStore({
      url: `redis://:${sentinel.masterPassword}@127.0.0.1`,
      mode: 'sentinel',
      sentinels: sentinel.sentinels,
      sentinelMaster: sentinel.masterName,
      clusterNodes: [],
      keyPrefix,
    })
    const master = new Redis({ port: sentinel.masterPort, password: sentinel.masterPassword })
    try {
      await store.set('k', 'on-master')
      expect(await master.get(`${keyPrefix}k`)).toBe('on-master')
    } finally {
      await store.close()
      master.disconnect()
    }
  })
})

describe('redis cluster of three masters', () => {
  let cluster: TestRedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster()
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  describeStateStoreContract(
    'redis cluster',
    (keyPrefix) =>
      createRedisStateStore({
        url: cluster.url,
        mode: 'cluster',
        sentinels: [],
        sentinelMaster: 'mymaster',
        clusterNodes: cluster.nodes.slice(1),
        keyPrefix,
      }),
    { network: true },
  )

  it('puts a lease and its fence counter in one slot, and spreads other keys', async () => {
    const node = new Redis({ port: cluster.nodes[0]?.port, password: cluster.password })
    try {
      const prefix = 'pga:'
      for (const name of ['sealer', 'collector:42', 'backup/nightly']) {
        const leaseSlot = await node.call('CLUSTER', ['KEYSLOT', `${prefix}lease:{${name}}`])
        const fenceSlot = await node.call('CLUSTER', ['KEYSLOT', `${prefix}lease-fence:{${name}}`])
        expect(fenceSlot).toBe(leaseSlot)
      }
      const keyPrefix = uniquePrefix()
      const store = createRedisStateStore({
        url: cluster.url,
        mode: 'cluster',
        sentinels: [],
        sentinelMaster: 'mymaster',
        clusterNodes: [],
        keyPrefix,
      })
      try {
        // Each operation is routed to the master owning its key's slot.
        for (let i = 0; i < 30; i++) await store.set(`spread:${i}`, String(i))
        for (let i = 0; i < 30; i++) expect(await store.get(`spread:${i}`)).toBe(String(i))
        const perNode = await Promise.all(
          cluster.nodes.map(async ({ port }) => {
            const each = new Redis({ port, password: cluster.password })
            try {
              let cursor = '0'
              let found = 0
              do {
                const [next, keys] = await each.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000)
                cursor = next
                found += keys.length
              } while (cursor !== '0')
              return found
            } finally {
              each.disconnect()
            }
          }),
        )
        expect(perNode.reduce((a, b) => a + b, 0)).toBe(30)
        expect(perNode.filter((count) => count > 0).length).toBeGreaterThan(1)
      } finally {
        await store.close()
      }
    } finally {
      node.disconnect()
    }
  })
})
