// The CPU work of a backup's chunks on worker threads, so the event loop keeps reading the
// source (pg_basebackup's pipe) while chunks are identified, compressed and sealed. Two steps per
// chunk, because deduplication needs the id before deciding whether to store:
//   identify: the chunk goes to a thread (its buffer transferred, not copied), which computes its
//             id (HMAC-SHA-256, as RepositoryKeys.chunkId) and keeps the bytes under a ticket;
//   seal:     for a new chunk, the same thread compresses and seals them (AES-256-GCM, the body
//             format of sealing.ts's sealObject) and hands the body back; or
//   drop:     a known chunk is let go without being compressed for nothing.
// lz4 (lz4js, a package the threads cannot load from a compiled binary) is done on the event loop:
// its identify hands the bytes back with the id.
// The thread code is plain JavaScript evaluated in each worker (CommonJS, built-in modules only),
// so it needs no file next to the bundle and runs the same under Bun and Node.
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { type Compression, compressionCode } from './compression.ts'

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { createCipheriv, createHmac, randomFillSync } = require('node:crypto')
const zlib = require('node:zlib')
const idKey = Buffer.from(workerData.idKey)
const held = new Map()
const compress = (data, compression, level) => {
  if (compression === 'none') return data
  if (compression === 'gzip') return zlib.gzipSync(data, { level })
  if (compression === 'zstd') {
    if (typeof zlib.zstdCompressSync !== 'function') throw new Error('zstd is not available in this runtime')
    return zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } })
  }
  throw new Error('no compression ' + compression + ' on the chunk threads')
}
parentPort.on('message', (job) => {
  try {
    if (job.op === 'identify') {
      const data = new Uint8Array(job.buffer, job.offset, job.length)
      const id = createHmac('sha256', idKey).update(data).digest('hex')
      if (job.giveBack) parentPort.postMessage({ ticket: job.ticket, id, buffer: job.buffer }, [job.buffer])
      else {
        held.set(job.ticket, data)
        parentPort.postMessage({ ticket: job.ticket, id })
      }
    } else if (job.op === 'seal') {
      const data = held.get(job.ticket)
      held.delete(job.ticket)
      const payload = compress(data, job.compression, job.level)
      const nonce = randomFillSync(new Uint8Array(12))
      const cipher = createCipheriv('aes-256-gcm', job.key, nonce)
      cipher.setAAD(Buffer.from(job.aad))
      const encrypted = cipher.update(payload)
      const last = cipher.final()
      const tag = cipher.getAuthTag()
      // Not Buffer.allocUnsafe: a small one is a slice of a shared pool, which cannot be transferred.
      const body = new Uint8Array(1 + 12 + encrypted.byteLength + last.byteLength + 16)
      body[0] = job.code
      body.set(nonce, 1)
      body.set(encrypted, 13)
      body.set(last, 13 + encrypted.byteLength)
      body.set(tag, 13 + encrypted.byteLength + last.byteLength)
      parentPort.postMessage({ ticket: job.ticket, body }, [body.buffer])
    } else if (job.op === 'drop') {
      held.delete(job.ticket)
    }
  } catch (error) {
    if (job.op !== 'drop') parentPort.postMessage({ ticket: job.ticket, error: String((error && error.message) || error) })
  }
})
`

type Reply = { ticket: number; id?: string; buffer?: ArrayBuffer; body?: Uint8Array; error?: string }
type Waiter = { resolve: (reply: Reply) => void; reject: (error: Error) => void }
type Thread = { worker: Worker; waiting: Map<number, Waiter>; load: number; stopped?: Error }

/** A chunk identified by a thread: its id, and the thread and ticket that hold its bytes (or the
 * bytes themselves, handed back, for compressions the threads do not do). */
export type Identified = { id: string; thread: number; ticket: number; data?: Uint8Array }

/** Compressions the threads do themselves. */
export const threadCompressions: ReadonlySet<Compression> = new Set(['none', 'gzip', 'zstd'])

/** Threads by default: one per core, at most four (the event loop and the source need CPU too). */
export const defaultChunkThreads = () => Math.min(4, Math.max(1, availableParallelism()))

export class ChunkPool {
  private readonly threads: Thread[] = []
  private nextTicket = 1
  private closed = false

  constructor(size: number, chunkIdKey: Uint8Array) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const worker = new Worker(workerSource, {
        eval: true,
        workerData: { idKey: Uint8Array.from(chunkIdKey) },
      })
      const thread: Thread = { worker, waiting: new Map(), load: 0 }
      worker.on('message', (reply: Reply) => {
        const waiter = thread.waiting.get(reply.ticket)
        if (!waiter) return
        thread.waiting.delete(reply.ticket)
        if (reply.error !== undefined) waiter.reject(new Error(`chunk thread: ${reply.error}`))
        else waiter.resolve(reply)
      })
      // A thread that died fails what it holds and whatever is asked of it later (the chunks it
      // held are gone with it).
      const fail = (error: Error) => {
        thread.stopped ??= error
        for (const waiter of thread.waiting.values()) waiter.reject(error)
        thread.waiting.clear()
      }
      worker.on('error', fail)
      worker.on('exit', (code) => fail(new Error(`a chunk thread stopped (exit code ${code})`)))
      this.threads.push(thread)
    }
  }

  private ask(index: number, ticket: number, message: object, transfer: ArrayBuffer[] = []): Promise<Reply> {
    const thread = this.threads[index] as Thread
    if (this.closed) return Promise.reject(new Error('the chunk threads have stopped'))
    if (thread.stopped) return Promise.reject(thread.stopped)
    return new Promise<Reply>((resolve, reject) => {
      thread.waiting.set(ticket, { resolve, reject })
      thread.worker.postMessage(message, transfer)
    })
  }

  /** The id of `data`. Its buffer moves to the thread when `data` spans all of it (the caller
   * must not use `data` afterwards); otherwise it is copied. `giveBack`: the bytes come back in
   * the answer instead of staying with the thread. */
  async identify(data: Uint8Array, giveBack: boolean): Promise<Identified> {
    const owned =
      data.buffer instanceof ArrayBuffer &&
      data.byteOffset === 0 &&
      data.byteLength === data.buffer.byteLength
    const bytes = owned ? data : new Uint8Array(data) // a copy (Buffer.slice would be a view)
    // The least busy thread: chunks differ in cost (zeros compress in no time).
    let index = 0
    for (let i = 1; i < this.threads.length; i++)
      if ((this.threads[i] as Thread).load < (this.threads[index] as Thread).load) index = i
    const thread = this.threads[index] as Thread
    const ticket = this.nextTicket++
    thread.load++
    try {
      const reply = await this.ask(
        index,
        ticket,
        { op: 'identify', ticket, buffer: bytes.buffer, offset: 0, length: bytes.byteLength, giveBack },
        [bytes.buffer as ArrayBuffer],
      )
      if (giveBack) {
        thread.load--
        return {
          id: reply.id as string,
          thread: index,
          ticket,
          data: new Uint8Array(reply.buffer as ArrayBuffer),
        }
      }
      return { id: reply.id as string, thread: index, ticket }
    } catch (error) {
      thread.load--
      throw error
    }
  }

  /** Compresses and seals a chunk a thread holds: the object body (sealing.ts's format). */
  async seal(
    chunk: Identified,
    key: Uint8Array,
    aad: string,
    compression: Compression,
    level: number,
  ): Promise<Uint8Array> {
    const thread = this.threads[chunk.thread] as Thread
    try {
      const reply = await this.ask(chunk.thread, chunk.ticket, {
        op: 'seal',
        ticket: chunk.ticket,
        key,
        aad,
        compression,
        level,
        code: compressionCode[compression],
      })
      return reply.body as Uint8Array
    } finally {
      thread.load--
    }
  }

  /** Lets go of a chunk a thread holds (a known one: referenced, not stored). */
  drop(chunk: Identified): void {
    const thread = this.threads[chunk.thread] as Thread
    thread.load--
    if (!this.closed) thread.worker.postMessage({ op: 'drop', ticket: chunk.ticket })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(
      this.threads.map(async (thread) => {
        thread.stopped ??= new Error('the chunk threads have stopped')
        for (const waiter of thread.waiting.values()) waiter.reject(thread.stopped)
        thread.waiting.clear()
        await thread.worker.terminate()
      }),
    )
  }
}
