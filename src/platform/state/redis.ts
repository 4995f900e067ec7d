// StateStore on Redis through ioredis: one server (redis:// or rediss://), a Sentinel-managed
// master, or a Cluster. Atomic operations run the Lua scripts of lua-scripts.ts (EVALSHA, falling
// back to EVAL once per node); every operation touches one key, or the two hash-tagged keys of a
// lease, so nothing crosses Cluster slots. Connection failures surface as rejected promises.
import { isIP } from 'node:net'
import type { ConnectionOptions } from 'node:tls'
import { Cluster, Redis } from 'ioredis'
import {
  acquireLeaseScript,
  compareAndSetScript,
  getAndDeleteScript,
  incrementScript,
  keyLayout,
  leaseValue,
  luaScripts,
  releaseLeaseScript,
  renewLeaseScript,
  toPx,
  toSafeInteger,
} from './lua-scripts.ts'
import { type Lease, type StateStore, StateStoreUnavailableError } from './state-store.ts'
import { TrackedCache } from './tracked-cache.ts'

export type RedisStateStoreOptions = {
  /** redis:// or rediss:// URL: credentials, db index and TLS. Its host is the first Cluster seed
   * and unused with Sentinel (the Sentinels name the master). */
  url: string
  mode: 'standalone' | 'sentinel' | 'cluster'
  sentinels: { host: string; port: number }[]
  sentinelMaster: string
  clusterNodes: { host: string; port: number }[]
  /** CA bundle (PEM) that signs the server certificate of a rediss:// server. */
  tlsCaPem?: string
  keyPrefix: string
  /** Timeout to open a connection and to get a reply (default 5000 ms). */
  connectTimeoutMs?: number
  /** Connection errors as ioredis reports them while it reconnects (default: ignored, since every
   * affected operation rejects with its own error). */
  onError?: (error: Error) => void
  /** Why getManyCached reads Redis every time (the server or a proxy refused CLIENT TRACKING). */
  onCacheUnavailable?: (reason: string) => void
}

type ParsedUrl = {
  host: string
  port: number
  username?: string
  password?: string
  db: number
  tls: boolean
}

type Script = (typeof luaScripts)[number]
type ScriptCommands = Record<Script['name'], (...keysThenArgs: string[]) => Promise<unknown>>
type Client = (Redis | Cluster) & ScriptCommands

/** How often a queued command waits for a reconnection before it is failed. */
const MAX_RETRIES_PER_REQUEST = 2
const reconnectDelay = (times: number) => Math.min(times * 200, 2000)

/** Reads host, port, credentials, db index and TLS from a redis:// or rediss:// URL without ever
 * echoing the URL (it may hold a password). */
export function parseRedisUrl(url: string): ParsedUrl {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error('the Redis URL is not a valid URL')
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error('the Redis URL must start with redis:// or rediss://')
  }
  const dbText = parsed.pathname.replace(/^\//, '')
  if (dbText !== '' && !/^\d+$/.test(dbText)) throw new Error('the Redis URL path must be a database index')
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
  return {
    host: host || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db: dbText === '' ? 0 : Number(dbText),
    tls: parsed.protocol === 'rediss:',
  }
}

function createClient(options: RedisStateStoreOptions, timeoutMs: number): Client {
  const url = parseRedisUrl(options.url)
  const scripts = Object.fromEntries(
    luaScripts.map((s) => [s.name, { lua: s.lua, numberOfKeys: s.numberOfKeys }]),
  )
  const tls: ConnectionOptions | undefined = url.tls
    ? {
        ...(options.tlsCaPem ? { ca: options.tlsCaPem } : {}),
        ...(isIP(url.host) ? {} : { servername: url.host }),
      }
    : undefined
  const connection = {
    ...(url.username ? { username: url.username } : {}),
    ...(url.password ? { password: url.password } : {}),
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
    // RESP2: every reply we read is the same in both protocols, and RESP2 works with every
    // server, proxy and Sentinel version.
    protocol: 2 as const,
    // Commands issued in the same tick leave in one write: under load every request's session
    // read (one MGET each) was its own socket write, about a quarter of a replica's CPU on an
    // authenticated route (docs/PERFORMANCE.md, "Authentication").
    enableAutoPipelining: true,
  }

  if (options.mode === 'cluster') {
    if (url.db !== 0) throw new Error('a Redis Cluster has only database 0: remove the index from the URL')
    const seeds = [{ host: url.host, port: url.port }, ...options.clusterNodes.map((n) => ({ ...n }))]
    return new Cluster(seeds, {
      scripts,
      enableAutoPipelining: true,
      clusterRetryStrategy: reconnectDelay,
      slotsRefreshTimeout: timeoutMs,
      redisOptions: { ...connection, ...(tls ? { tls } : {}) },
    }) as Client
  }
  if (options.mode === 'sentinel') {
    if (options.sentinels.length === 0) throw new Error('Sentinel mode needs at least one Sentinel address')
    return new Redis({
      ...connection,
      db: url.db,
      scripts,
      retryStrategy: reconnectDelay,
      sentinels: options.sentinels.map((s) => ({ ...s })),
      name: options.sentinelMaster,
      // Give up on a round over all Sentinels after a few tries, so queued commands fail
      // through maxRetriesPerRequest instead of waiting for the Sentinels indefinitely.
      sentinelRetryStrategy: (times: number) => (times > 3 ? null : times * 200),
      sentinelCommandTimeout: timeoutMs,
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    }) as Client
  }
  return new Redis({
    ...connection,
    host: url.host,
    port: url.port,
    db: url.db,
    scripts,
    retryStrategy: reconnectDelay,
    ...(tls ? { tls } : {}),
  }) as Client
}

/**
 * Creates a StateStore on Redis (standalone, Sentinel or Cluster). It connects at once in the
 * background; call ping() at start-up to fail fast when Redis is unreachable. Every key is
 * written under `keyPrefix`.
 */
export function createRedisStateStore(options: RedisStateStoreOptions): StateStore {
  const keys = keyLayout(options.keyPrefix)
  const timeoutMs = options.connectTimeoutMs ?? 5000
  const client = createClient(options, timeoutMs)
  client.on('error', (error: Error) => options.onError?.(error))
  /** The copy behind getManyCached: two more connections, opened by the first cached read (a
   * process that never makes one, such as the collector, never opens them). */
  let cache: TrackedCache | undefined
  const trackedCache = () => {
    if (!cache && !closed && options.mode !== 'cluster')
      cache = new TrackedCache(client as Redis, (reason) => options.onCacheUnavailable?.(reason))
    return cache
  }
  /** Every write drops this replica's copy of its key first, so it reads its own writes. */
  const written = (key: string) => {
    const name = keys.key(key)
    cache?.forget(name)
    return name
  }
  let closed = false

  /** Runs one operation; rejects when closed, and never waits longer than twice the timeout (a
   * backstop for a Cluster whose offline queue has no timeout of its own). */
  const op = async <T>(run: () => Promise<T>): Promise<T> => {
    if (closed) throw new Error('the Redis state store is closed')
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${2 * timeoutMs} ms`)),
        2 * timeoutMs,
      )
    })
    try {
      return await Promise.race([run(), deadline])
    } catch (error) {
      // A reply error is ours (a script, a wrong type); anything else means Redis is not there.
      throw (error as Error).name === 'ReplyError' ? error : new StateStoreUnavailableError(error)
    } finally {
      clearTimeout(timer)
    }
  }
  const script = (s: Script, ...keysThenArgs: string[]) => client[s.name](...keysThenArgs)
  const readMany = async (full: readonly string[]) => (full.length ? await client.mget(...full) : [])
  /** The full names of a getManyCached array, made once per array: the same string objects on
   * every request, so the copy's lookups reuse their hashes instead of hashing new strings. */
  const prefixed = new WeakMap<readonly string[], string[]>()

  return {
    kind: 'redis',
    shared: true,
    get: (key) => op(() => client.get(keys.key(key))),
    getMany: (names) => op(() => readMany(names.map((name) => keys.key(name)))),
    getManyCached: (names) => {
      let full = prefixed.get(names)
      if (!full) {
        full = names.map((name) => keys.key(name))
        prefixed.set(names, full)
      }
      // A hit answers without the deadline timer op() sets: that timer was a good part of the cost.
      const tracked = full.length ? trackedCache() : undefined
      const copy = tracked?.peek(full)
      return copy
        ? Promise.resolve(copy)
        : op(() => (tracked ? tracked.read(full, readMany) : readMany(full)))
    },
    set: (key, value, opts) =>
      op(async () => {
        if (opts?.ttlMs === undefined) await client.set(written(key), value)
        else await client.set(written(key), value, 'PX', toPx(opts.ttlMs))
      }),
    setIfAbsent: (key, value, opts) =>
      op(async () => {
        const reply =
          opts?.ttlMs === undefined
            ? await client.set(written(key), value, 'NX')
            : await client.set(written(key), value, 'PX', toPx(opts.ttlMs), 'NX')
        return reply === 'OK'
      }),
    increment: (key, opts) =>
      op(async () =>
        toSafeInteger(await script(incrementScript, written(key), String(opts.by ?? 1), toPx(opts.ttlMs))),
      ),
    getAndDelete: (key) => op(async () => (await script(getAndDeleteScript, written(key))) as string | null),
    delete: (key) => op(async () => (await client.del(written(key))) > 0),
    compareAndSet: (key, expected, next, opts) =>
      op(async () => {
        const ttl = next !== null && opts?.ttlMs !== undefined ? toPx(opts.ttlMs) : ''
        const swapped = await script(
          compareAndSetScript,
          written(key),
          expected === null ? '0' : '1',
          expected ?? '',
          next === null ? '0' : '1',
          next ?? '',
          ttl,
        )
        return swapped === 1
      }),
    ttl: (key) =>
      op(async () => {
        const ms = await client.pttl(keys.key(key))
        return ms < 0 ? null : ms
      }),
    acquireLease: (name, holder, ttlMs) =>
      op(async () => {
        const fence = await script(
          acquireLeaseScript,
          keys.lease(name),
          keys.leaseFence(name),
          JSON.stringify(holder),
          toPx(ttlMs),
        )
        return fence === null ? null : { name, holder, fence: toSafeInteger(fence), ttlMs }
      }),
    renewLease: (lease: Lease, ttlMs = lease.ttlMs) =>
      op(
        async () =>
          (await script(renewLeaseScript, keys.lease(lease.name), leaseValue(lease), toPx(ttlMs))) === 1,
      ),
    releaseLease: (lease: Lease) =>
      op(async () => (await script(releaseLeaseScript, keys.lease(lease.name), leaseValue(lease))) === 1),
    ping: () =>
      op(async () => {
        const start = performance.now()
        await client.ping()
        return performance.now() - start
      }),
    cacheStats: () => cache?.snapshot(),
    async close() {
      if (closed) return
      closed = true
      cache?.close()
      try {
        if (client.status === 'ready') await client.quit()
      } catch {
        // the connection is going away either way
      } finally {
        client.disconnect()
      }
    },
  }
}
