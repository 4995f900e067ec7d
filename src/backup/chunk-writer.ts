// The write side of a backup: each piece of data becomes a chunk reference. A chunk whose
// content id is already known (stored by this backup, or by the backups it may reuse: the parent
// for an incremental, the full for a differential) is referenced; a new one is compressed, sealed
// and uploaded, with at most `concurrency` uploads in flight. `add` waits when that many are
// running, which is what bounds memory and pauses the source (back-pressure).
import type { Compression } from './compression.ts'
import type { ChunkRef } from './manifest.ts'
import type { BackupKey, BackupRepository } from './repository.ts'

export type ChunkStats = { chunks: number; newChunks: number; sourceBytes: number; storedBytes: number }

export class ChunkWriter {
  private readonly inFlight = new Set<Promise<void>>()
  private failure: unknown
  readonly stats: ChunkStats = { chunks: 0, newChunks: 0, sourceBytes: 0, storedBytes: 0 }

  constructor(
    private readonly repository: BackupRepository,
    private readonly key: BackupKey,
    private readonly options: {
      compression: Compression
      level?: number | undefined
      concurrency: number
      /** Chunks that may be referenced instead of stored: id → owner index in the manifest. */
      known: Map<string, number>
      signal?: AbortSignal | undefined
    },
  ) {}

  /** The reference of this data as a chunk (stored, or found). The writer keeps `data` until its
   * upload ends: the caller must not change it afterwards (ByteReader hands out bytes that nothing
   * else writes to; copying each chunk cost about a tenth of a backup's CPU). */
  async add(data: Uint8Array): Promise<ChunkRef> {
    this.options.signal?.throwIfAborted()
    if (this.failure) throw this.failure
    const id = this.repository.keys.chunkId(data)
    this.stats.chunks++
    this.stats.sourceBytes += data.byteLength
    const owner = this.options.known.get(id)
    if (owner !== undefined) return [owner, id, data.byteLength]
    this.options.known.set(id, 0)
    this.stats.newChunks++
    const upload: Promise<void> = this.repository
      .putChunk(this.key, id, data, this.options.compression, this.options.level)
      .then(
        (stored) => {
          this.stats.storedBytes += stored
        },
        (error) => {
          this.failure ??= error
        },
      )
      .finally(() => this.inFlight.delete(upload))
    this.inFlight.add(upload)
    while (this.inFlight.size >= this.options.concurrency) await Promise.race(this.inFlight)
    if (this.failure) throw this.failure
    return [0, id, data.byteLength]
  }

  /** Waits for every upload; throws the first failure. */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight)
    if (this.failure) throw this.failure
  }
}
