// StateStore on Upstash's REST API (@upstash/redis), for runtimes without TCP sockets. Same key
// layout and the same Lua scripts as redis.ts (EVALSHA, falling back to EVAL on NOSCRIPT), so the
// two stores can share one database. Values stay strings: automatic JSON deserialization is off.
import { Redis } from '@upstash/redis'
import {
  acquireLeaseScript,
  compareAndSetScript,
  getAndDeleteScript,
  incrementScript,
  keyLayout,
  leaseValue,
  releaseLeaseScript,
  renewLeaseScript,
  toPx,
  toSafeInteger,
} from './lua-scripts.ts'
import { type Lease, type StateStore, StateStoreUnavailableError } from './state-store.ts'

export type UpstashStateStoreOptions = {
  /** REST endpoint, e.g. https://eu1-x.upstash.io */
  url: string
  /** Bearer token of the endpoint. */
  token: string
  keyPrefix: string
  /** Per-request timeout, including the client's own retries (default 5000 ms). */
  requestTimeoutMs?: number
}

/** The client puts the whole command (keys and values) into its error messages; keep only
 * Redis's own message so values never reach a log through an error. */
function redact(error: unknown): unknown {
  if (error instanceof Error && / command was: /.test(error.message)) {
    const clean = new Error(error.message.replace(/,? command was: [\s\S]*$/, ''))
    clean.name = error.name
    return clean
  }
  return error
}

/** Creates a StateStore on an Upstash Redis REST endpoint. Every key is written under
 * `keyPrefix`. */
export function createUpstashStateStore(options: UpstashStateStoreOptions): StateStore {
  const keys = keyLayout(options.keyPrefix)
  const timeoutMs = options.requestTimeoutMs ?? 5000
  const redis = new Redis({
    url: options.url,
    token: options.token,
    automaticDeserialization: false,
    enableTelemetry: false,
    retry: { retries: 2, backoff: (retryCount) => 100 * 2 ** retryCount },
    signal: () => AbortSignal.timeout(timeoutMs),
  })
  const scripts = {
    increment: redis.createScript<number>(incrementScript.lua),
    getAndDelete: redis.createScript<string | null>(getAndDeleteScript.lua),
    compareAndSet: redis.createScript<number>(compareAndSetScript.lua),
    acquireLease: redis.createScript<number | null>(acquireLeaseScript.lua),
    renewLease: redis.createScript<number>(renewLeaseScript.lua),
    releaseLease: redis.createScript<number>(releaseLeaseScript.lua),
  }
  let closed = false

  const op = async <T>(run: () => Promise<T>): Promise<T> => {
    if (closed) throw new Error('the Upstash state store is closed')
    try {
      return await run()
    } catch (error) {
      // A failed fetch means the service is not there; an error reply is ours.
      const code = (error as { code?: string }).code ?? ''
      throw error instanceof TypeError || ['ECONNREFUSED', 'ECONNRESET', 'ConnectionRefused'].includes(code)
        ? new StateStoreUnavailableError(redact(error))
        : redact(error)
    }
  }

  const readMany = (names: readonly string[]) =>
    op(async () =>
      names.length ? await redis.mget<(string | null)[]>(...names.map((name) => keys.key(name))) : [],
    )

  return {
    kind: 'upstash',
    shared: true,
    get: (key) => op(() => redis.get<string>(keys.key(key))),
    getMany: (names) => readMany(names),
    // REST has no push channel to keep a copy current: every read goes to Upstash.
    getManyCached: (names) => readMany(names),
    set: (key, value, opts) =>
      op(async () => {
        if (opts?.ttlMs === undefined) await redis.set(keys.key(key), value)
        else await redis.set(keys.key(key), value, { px: Number(toPx(opts.ttlMs)) })
      }),
    setIfAbsent: (key, value, opts) =>
      op(async () => {
        const reply =
          opts?.ttlMs === undefined
            ? await redis.set(keys.key(key), value, { nx: true })
            : await redis.set(keys.key(key), value, { nx: true, px: Number(toPx(opts.ttlMs)) })
        return reply === 'OK'
      }),
    increment: (key, opts) =>
      op(async () =>
        toSafeInteger(
          await scripts.increment.exec([keys.key(key)], [String(opts.by ?? 1), toPx(opts.ttlMs)]),
        ),
      ),
    getAndDelete: (key) => op(() => scripts.getAndDelete.exec([keys.key(key)], [])),
    delete: (key) => op(async () => (await redis.del(keys.key(key))) > 0),
    compareAndSet: (key, expected, next, opts) =>
      op(async () => {
        const ttl = next !== null && opts?.ttlMs !== undefined ? toPx(opts.ttlMs) : ''
        const args = [
          expected === null ? '0' : '1',
          expected ?? '',
          next === null ? '0' : '1',
          next ?? '',
          ttl,
        ]
        return (await scripts.compareAndSet.exec([keys.key(key)], args)) === 1
      }),
    ttl: (key) =>
      op(async () => {
        const ms = await redis.pttl(keys.key(key))
        return ms < 0 ? null : ms
      }),
    acquireLease: (name, holder, ttlMs) =>
      op(async () => {
        const fence = await scripts.acquireLease.exec(
          [keys.lease(name), keys.leaseFence(name)],
          [JSON.stringify(holder), toPx(ttlMs)],
        )
        return fence === null ? null : { name, holder, fence: toSafeInteger(fence), ttlMs }
      }),
    renewLease: (lease: Lease, ttlMs = lease.ttlMs) =>
      op(
        async () =>
          (await scripts.renewLease.exec([keys.lease(lease.name)], [leaseValue(lease), toPx(ttlMs)])) === 1,
      ),
    releaseLease: (lease: Lease) =>
      op(async () => (await scripts.releaseLease.exec([keys.lease(lease.name)], [leaseValue(lease)])) === 1),
    ping: () =>
      op(async () => {
        const start = performance.now()
        await redis.ping()
        return performance.now() - start
      }),
    async close() {
      // REST over fetch holds no connection of its own; closing only stops further use.
      closed = true
    },
  }
}
