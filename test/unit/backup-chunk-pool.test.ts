// The chunk threads and the writer on top of them, against a real directory repository: what the
// threads seal opens with the event loop's openObject under the chunk's own associated data and
// nowhere else, ids are the repository's, equal chunks are stored once, references land in order,
// lz4 (done on the event loop) round-trips too, buffers move to the threads only when the caller
// handed over all of them, and failures (a store that refuses, a compression the runtime lacks,
// stopped threads, a cancelled backup) reach the caller.
import { afterEach, describe, expect, it } from 'vitest'
import { ChunkPool } from '../../src/backup/chunk-pool.ts'
import { ChunkWriter } from '../../src/backup/chunk-writer.ts'
import { compressionAvailable } from '../../src/backup/compression.ts'
import type { ChunkRef } from '../../src/backup/manifest.ts'
import { BackupIntegrityError, BackupRepository } from '../../src/backup/repository.ts'
import { chunkAad, openObject } from '../../src/backup/sealing.ts'
import { createLocalKek } from '../../src/keys/kek.ts'
import type { BlobStore } from '../../src/platform/blob/blob-store.ts'
import { DirectoryBlobStore } from '../../src/platform/blob/directory.ts'
import { DecryptionError, importAesKey, randomBytes } from '../../src/platform/crypto/aes-gcm.ts'
import { tempDir } from '../harness/processes.ts'

const kek = await createLocalKek(randomBytes(32))
const pools: ChunkPool[] = []
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()))
})

/** Compressible bytes unique to `seed`, like database pages. */
function pageLike(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = i % 64 < 8 ? (seed * 31 + i) & 0xff : 0x20 + (i % 7)
  return out
}

async function openRepository(store?: BlobStore) {
  return BackupRepository.open(store ?? new DirectoryBlobStore(tempDir('chunk-pool-repo')), [kek], {
    create: true,
  })
}

describe('ChunkPool', () => {
  it('identifies with the repository chunk id and seals what openObject opens, under that chunk only', async () => {
    const repository = await openRepository()
    const pool = new ChunkPool(2, repository.keys.chunkIdKey)
    pools.push(pool)
    const raw = randomBytes(32)
    const key = await importAesKey(raw)
    const data = pageLike(300_000, 1)
    const expected = repository.keys.chunkId(data)
    const chunk = await pool.identify(data.slice(), false)
    expect(chunk.id).toBe(expected)
    const body = await pool.seal(chunk, raw, chunkAad('backup-a', chunk.id), 'gzip', 6)
    expect(body[0]).toBe(1) // gzip's code
    expect(body.byteLength).toBeLessThan(data.byteLength / 4)
    expect(
      new Uint8Array(await openObject(key, body, chunkAad('backup-a', chunk.id), data.byteLength)),
    ).toEqual(data)
    await expect(openObject(key, body, chunkAad('backup-b', chunk.id))).rejects.toBeInstanceOf(
      DecryptionError,
    )
    const flipped = body.slice()
    flipped[40] = (flipped[40] as number) ^ 1
    await expect(openObject(key, flipped, chunkAad('backup-a', chunk.id))).rejects.toBeInstanceOf(
      DecryptionError,
    )
  })

  it('moves a buffer the caller hands over whole, and copies a view into a larger one', async () => {
    const repository = await openRepository()
    const pool = new ChunkPool(1, repository.keys.chunkIdKey)
    pools.push(pool)
    const whole = pageLike(10_000, 2)
    const id = repository.keys.chunkId(whole)
    const moved = await pool.identify(whole, false)
    expect(moved.id).toBe(id)
    expect(whole.byteLength).toBe(0) // detached: it went to the thread
    pool.drop(moved)

    const larger = pageLike(20_000, 3)
    const view = larger.subarray(5_000, 15_000)
    const copied = await pool.identify(view, true)
    expect(copied.id).toBe(repository.keys.chunkId(larger.subarray(5_000, 15_000)))
    expect(larger.byteLength).toBe(20_000)
    expect(copied.data).toEqual(larger.subarray(5_000, 15_000))
  })

  it('rejects what a thread fails at, and everything once stopped', async () => {
    const repository = await openRepository()
    const pool = new ChunkPool(1, repository.keys.chunkIdKey)
    pools.push(pool)
    const chunk = await pool.identify(pageLike(1_000, 4), false)
    await expect(pool.seal(chunk, randomBytes(32), 'aad', 'lz4', 0)).rejects.toThrow(
      /no compression lz4 on the chunk threads/,
    )
    if (!compressionAvailable('zstd')) {
      const other = await pool.identify(pageLike(1_000, 5), false)
      await expect(pool.seal(other, randomBytes(32), 'aad', 'zstd', 3)).rejects.toThrow(
        /zstd is not available/,
      )
    }
    await pool.close()
    await expect(pool.identify(pageLike(1_000, 6), false)).rejects.toThrow(/stopped/)
  })
})

describe('ChunkWriter', () => {
  const chunkSize = 64 * 1024
  const write = async (
    repository: BackupRepository,
    pieces: Uint8Array[],
    options: {
      compression?: 'gzip' | 'lz4' | 'none'
      signal?: AbortSignal
      known?: Map<string, number>
    } = {},
  ) => {
    const key = await repository.newBackupKey(crypto.randomUUID())
    const writer = new ChunkWriter(repository, key, {
      compression: options.compression ?? 'gzip',
      concurrency: 2,
      threads: 2,
      known: options.known ?? new Map(),
      signal: options.signal,
    })
    const refs: ChunkRef[] = []
    try {
      for (const piece of pieces) {
        const index = refs.length
        refs.length++
        await writer.add(piece, (ref) => {
          refs[index] = ref
        })
      }
      await writer.flush()
    } finally {
      await writer.close()
    }
    return { key, refs, stats: writer.stats }
  }

  for (const compression of ['gzip', 'lz4', 'none'] as const)
    it(`stores each distinct chunk once and references the rest, in order (${compression})`, async () => {
      const repository = await openRepository()
      const distinct = Array.from({ length: 6 }, (_, i) => pageLike(chunkSize, 10 + i))
      // 12 pieces: each distinct one twice, interleaved, as fresh copies (the writer takes them over).
      const order = [0, 1, 2, 0, 3, 4, 1, 5, 2, 3, 4, 5]
      const { key, refs, stats } = await write(
        repository,
        order.map((i) => (distinct[i] as Uint8Array).slice()),
        { compression },
      )
      expect(stats).toMatchObject({ chunks: 12, newChunks: 6, sourceBytes: 12 * chunkSize })
      expect(refs).toHaveLength(12)
      order.forEach((i, at) => {
        expect(refs[at]).toEqual([0, repository.keys.chunkId(distinct[i] as Uint8Array), chunkSize])
      })
      const stored = await repository.store.list(`backups/${key.backupId}/chunks/`)
      expect(stored).toHaveLength(6)
      // The stats count every stored byte, also of chunks stored while others were in flight.
      let bytes = 0
      for (const path of stored) bytes += ((await repository.store.get(path)) as Uint8Array).byteLength
      expect(stats.storedBytes).toBe(bytes)
      for (const [i, data] of distinct.entries())
        expect(
          new Uint8Array(await repository.getChunk(key.backupId, repository.keys.chunkId(data), chunkSize)),
          `chunk ${i}`,
        ).toEqual(data)
    })

  it('references chunks an earlier backup stored instead of storing them again', async () => {
    const repository = await openRepository()
    const old = pageLike(chunkSize, 20)
    const known = new Map([[repository.keys.chunkId(old), 1]])
    const fresh = pageLike(chunkSize, 21)
    const { key, refs, stats } = await write(repository, [old.slice(), fresh.slice()], { known })
    expect(refs[0]).toEqual([1, repository.keys.chunkId(old), chunkSize])
    expect(refs[1]).toEqual([0, repository.keys.chunkId(fresh), chunkSize])
    expect(stats.newChunks).toBe(1)
    expect(await repository.store.list(`backups/${key.backupId}/chunks/`)).toHaveLength(1)
  })

  it('fails the backup when the repository refuses a chunk', async () => {
    const directory = new DirectoryBlobStore(tempDir('chunk-pool-refusing'))
    let puts = 0
    const refusing: BlobStore = {
      description: 'refusing',
      get: (k) => directory.get(k),
      delete: (k) => directory.delete(k),
      list: (p) => directory.list(p),
      put: async (k, body) => {
        if (k.includes('/chunks/') && ++puts === 2) throw new Error('disk full')
        return directory.put(k, body)
      },
    }
    const repository = await openRepository(refusing)
    const pieces = Array.from({ length: 8 }, (_, i) => pageLike(chunkSize, 30 + i))
    await expect(write(repository, pieces)).rejects.toThrow(/disk full/)
  })

  it('stops taking chunks once the backup is cancelled', async () => {
    const repository = await openRepository()
    const controller = new AbortController()
    controller.abort(new Error('cancelled by the operator'))
    await expect(write(repository, [pageLike(chunkSize, 40)], { signal: controller.signal })).rejects.toThrow(
      /cancelled by the operator/,
    )
  })

  it('fails a chunk whose stored body was altered (what the threads sealed is checked on read)', async () => {
    const repository = await openRepository()
    const data = pageLike(chunkSize, 50)
    const { key, refs } = await write(repository, [data.slice()])
    const id = (refs[0] as ChunkRef)[1]
    const path = `backups/${key.backupId}/chunks/${id.slice(0, 2)}/${id}`
    const body = (await repository.store.get(path)) as Uint8Array
    body[body.byteLength - 1] = (body[body.byteLength - 1] as number) ^ 0x80
    await repository.store.put(path, body)
    await expect(repository.getChunk(key.backupId, id, chunkSize)).rejects.toBeInstanceOf(
      BackupIntegrityError,
    )
  })
})
