// The write side of a backup: each piece of data becomes a chunk reference. A chunk whose
// content id is already known (stored by this backup, or by the backups it may reuse: the parent
// for an incremental, the full for a differential) is referenced; a new one is compressed, sealed
// and uploaded. Ids, compression and sealing run on a ChunkPool's threads, so the caller keeps
// reading its source meanwhile; at most `concurrency + threads` chunks are in the pipeline at a
// time (being identified, sealed or uploaded). `add` waits when that many are, which is what
// bounds memory and pauses the source (back-pressure).
import { ChunkPool, type Identified, threadCompressions } from './chunk-pool.ts'
import { type Compression, defaultLevel } from './compression.ts'
import type { ChunkRef } from './manifest.ts'
import type { BackupKey, BackupRepository } from './repository.ts'
import { chunkAad } from './sealing.ts'

export type ChunkStats = { chunks: number; newChunks: number; sourceBytes: number; storedBytes: number }

export class ChunkWriter {
  private readonly inPipeline = new Set<Promise<void>>()
  private readonly pool: ChunkPool
  private readonly limit: number
  private failure: unknown
  readonly stats: ChunkStats = { chunks: 0, newChunks: 0, sourceBytes: 0, storedBytes: 0 }

  constructor(
    private readonly repository: BackupRepository,
    private readonly key: BackupKey,
    private readonly options: {
      compression: Compression
      level?: number | undefined
      /** Uploads in flight. */
      concurrency: number
      /** Threads identifying, compressing and sealing chunks. */
      threads: number
      /** Chunks that may be referenced instead of stored: id → owner index in the manifest. */
      known: Map<string, number>
      signal?: AbortSignal | undefined
    },
  ) {
    this.pool = new ChunkPool(options.threads, repository.keys.chunkIdKey)
    this.limit = Math.max(1, options.concurrency) + Math.max(1, options.threads)
  }

  /**
   * Takes `data` as the next chunk; `place` receives its reference once its id is known (at the
   * latest when flush() resolves). Resolves when the pipeline has room for another chunk. The
   * writer owns `data` from here on: its buffer may move to another thread (ByteReader hands out
   * bytes that nothing else uses), so the caller must not read it afterwards.
   */
  async add(data: Uint8Array, place: (ref: ChunkRef) => void): Promise<void> {
    this.options.signal?.throwIfAborted()
    if (this.failure) throw this.failure
    this.stats.chunks++
    this.stats.sourceBytes += data.byteLength
    const work: Promise<void> = this.store(data, place)
      .catch((error) => {
        this.failure ??= error
      })
      .finally(() => this.inPipeline.delete(work))
    this.inPipeline.add(work)
    while (this.inPipeline.size >= this.limit) await Promise.race(this.inPipeline)
    if (this.failure) throw this.failure
  }

  private async store(data: Uint8Array, place: (ref: ChunkRef) => void): Promise<void> {
    const size = data.byteLength
    const { compression } = this.options
    const onThreads = threadCompressions.has(compression)
    const chunk: Identified = await this.pool.identify(data, !onThreads)
    const owner = this.options.known.get(chunk.id)
    if (owner !== undefined) {
      if (onThreads) this.pool.drop(chunk)
      return place([owner, chunk.id, size])
    }
    // Equal chunks later in this backup refer to this one.
    this.options.known.set(chunk.id, 0)
    this.stats.newChunks++
    place([0, chunk.id, size])
    // Not `storedBytes += await ...`: that reads the total before the await and loses the chunks
    // stored meanwhile.
    const stored = onThreads
      ? await this.repository.putSealedChunk(
          this.key,
          chunk.id,
          await this.pool.seal(
            chunk,
            this.key.raw,
            chunkAad(this.key.backupId, chunk.id),
            compression,
            this.options.level ?? defaultLevel[compression],
          ),
        )
      : await this.repository.putChunk(
          this.key,
          chunk.id,
          chunk.data as Uint8Array,
          compression,
          this.options.level,
        )
    this.stats.storedBytes += stored
  }

  /** Waits for every chunk to be referenced and stored; throws the first failure. */
  async flush(): Promise<void> {
    while (this.inPipeline.size > 0) await Promise.all(this.inPipeline)
    if (this.failure) throw this.failure
  }

  /** Stops the threads (after flush, or to abandon the backup). */
  close(): Promise<void> {
    return this.pool.close()
  }
}
