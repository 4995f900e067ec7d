// The copy of hot keys behind StateStore.getManyCached (src/platform/state/tracked-cache.ts) on a
// Redis of its own (the tests kill connections and flush it): what another replica writes, what
// expires and what is flushed reach the copy through Redis' pushes; while the push channel is
// down the copy is not used; a Redis user without CLIENT TRACKING reads Redis every time.
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisStateStoreOptions } from '../../src/platform/state/redis.ts'
import type { StateStore } from '../../src/platform/state/state-store.ts'
import { startRedis, type TestRedis } from '../harness/redis.ts'
import { standaloneRedisStore } from '../support/redis-store.ts'
import { until } from '../support/until.ts'

let redis: TestRedis
let admin: Redis
const opened: StateStore[] = []
const password = randomUUID()

const open = (keyPrefix: string, extra: Partial<RedisStateStoreOptions> = {}) => {
  const store = standaloneRedisStore(redis.url, keyPrefix, extra)
  opened.push(store)
  return store
}

/** Two replicas over one Redis, and a key the reader has in its copy (read again until a hit). */
async function replicasWithCopy(value = 'v1') {
  const prefix = `tracked:${randomUUID()}:`
  const writer = open(prefix)
  const reader = open(prefix)
  const key = `auth:session:{${randomUUID()}}`
  await writer.set(key, value)
  await until('the reader serves the key from its copy', async () => {
    const before = reader.cacheStats?.()?.hits ?? 0
    expect(await reader.getManyCached([key])).toEqual([value])
    return (reader.cacheStats?.()?.hits ?? 0) > before
  })
  return { writer, reader, key }
}

const hits = (store: StateStore) => store.cacheStats?.()?.hits ?? 0
const clientIds = async (name: string) =>
  String(await admin.client('LIST'))
    .split('\n')
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] as string)

beforeAll(async () => {
  redis = await startRedis([
    // A user that may do everything but turn tracking on, as some managed Redis services allow.
    `user no-tracking on >${password} ~* &* +@all -client|tracking`,
  ])
  admin = new Redis(redis.url)
})

afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()))
  admin?.disconnect()
  await redis?.stop()
})

describe('tracked copy behind getManyCached', () => {
  it('answers repeated reads from the copy, with one MGET on the server', async () => {
    const { reader, key } = await replicasWithCopy()
    const mgets = async () =>
      Number(/cmdstat_mget:calls=(\d+)/.exec(String(await admin.info('commandstats')))?.[1] ?? 0)
    const before = await mgets()
    const hitsBefore = hits(reader)
    for (let i = 0; i < 50; i++) expect(await reader.getManyCached([key])).toEqual(['v1'])
    expect(hits(reader) - hitsBefore).toBe(50)
    expect(await mgets()).toBe(before)
  })

  it('sees another replica’s write, delete and expiry through the push', async () => {
    const { writer, reader, key } = await replicasWithCopy()
    const invalidations = reader.cacheStats?.()?.invalidations ?? 0
    await writer.set(key, 'v2')
    await until('the reader sees v2', async () => (await reader.getManyCached([key]))[0] === 'v2', {
      timeoutMs: 10_000,
    })
    expect(reader.cacheStats?.()?.invalidations).toBeGreaterThan(invalidations)

    // Back in the copy, then gone on the writer: the reader follows.
    await until('v2 in the copy again', async () => {
      const before = hits(reader)
      await reader.getManyCached([key])
      return hits(reader) > before
    })
    await writer.delete(key)
    await until('the reader sees the delete', async () => (await reader.getManyCached([key]))[0] === null, {
      timeoutMs: 10_000,
    })

    // A key Redis expires: the copy must not outlive it.
    await writer.set(key, 'brief', { ttlMs: 300 })
    await until(
      'the reader sees the brief value',
      async () => (await reader.getManyCached([key]))[0] === 'brief',
    )
    await until('the reader sees it expire', async () => (await reader.getManyCached([key]))[0] === null, {
      timeoutMs: 10_000,
    })
  })

  it('empties the copy when the database is flushed', async () => {
    const { reader, key } = await replicasWithCopy()
    await admin.flushdb()
    await until('the reader sees the flush', async () => (await reader.getManyCached([key]))[0] === null, {
      timeoutMs: 10_000,
    })
  })

  it('stops trusting the copy when the push connection drops, and arms again on the new one', async () => {
    const { writer, reader, key } = await replicasWithCopy()
    const ids = await clientIds('pga-invalidations')
    expect(ids.length).toBeGreaterThan(0)
    for (const id of ids) await admin.client('KILL', 'ID', id)
    // Nothing pushes this change to the reader: the old push connection is gone.
    await writer.set(key, 'while-down')
    await until(
      'the reader reads past its copy',
      async () => (await reader.getManyCached([key]))[0] === 'while-down',
      { timeoutMs: 10_000 },
    )
    // Armed again towards the new push connection: a copy, then a change that reaches it.
    await until('the reader serves from its copy again', async () => {
      const before = hits(reader)
      await reader.getManyCached([key])
      return hits(reader) > before
    })
    await writer.set(key, 'after')
    await until(
      'the reader sees the change after re-arming',
      async () => (await reader.getManyCached([key]))[0] === 'after',
      {
        timeoutMs: 10_000,
      },
    )
  })

  it('stops trusting the copy when the tracked connection drops', async () => {
    const { writer, reader, key } = await replicasWithCopy()
    for (const id of await clientIds('pga-tracked-reads')) await admin.client('KILL', 'ID', id)
    await writer.set(key, 'changed')
    await until(
      'the reader reads past its copy',
      async () => (await reader.getManyCached([key]))[0] === 'changed',
      {
        timeoutMs: 10_000,
      },
    )
  })

  it('reads Redis every time for a user that may not turn tracking on, and says why', async () => {
    const reasons: string[] = []
    const url = redis.url.replace('redis://', `redis://no-tracking:${password}@`)
    const prefix = `tracked:${randomUUID()}:`
    const writer = open(prefix, { url })
    const reader = open(prefix, { url, onCacheUnavailable: (reason) => reasons.push(reason) })
    const key = 'auth:session:{limited}'
    await writer.set(key, 'one')
    expect(await reader.getManyCached([key])).toEqual(['one'])
    await until('the refusal is reported', () => reasons.length > 0)
    expect(reasons[0]).toMatch(/NOPERM/)
    expect(reasons.join(' ')).not.toContain(password)
    for (let i = 0; i < 5; i++) {
      await writer.set(key, `v${i}`)
      expect(await reader.getManyCached([key])).toEqual([`v${i}`])
    }
    expect(reader.cacheStats?.()).toMatchObject({ armed: false, hits: 0 })
  })
})
