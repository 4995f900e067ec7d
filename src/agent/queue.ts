// The agent's on-disk queue: every sample becomes a batch file before it is sent, and is deleted
// only once the server acknowledged it, so nothing is lost while the server is unreachable or the
// agent restarts; files are replayed in sequence order. The queue is bounded in bytes: when full,
// the oldest batches are dropped (and counted). Layout of the directory:
//   agent-id            this queue's identity (the agentId of its batches), made once
//   sequence            the last sequence number given to a batch
//   batches/NNN.json    batches waiting, named by sequence; written to a temp file, synced, renamed
//   rejected/NNN.json   batches the server refused as invalid (kept for inspection, last 100)
//   lock                pid of the agent using the directory (one agent per queue)
import { randomUUID } from 'node:crypto'
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'

export type QueuedBatch = { sequence: number; body: string; bytes: number }

const batchFile = (sequence: number) => `${String(sequence).padStart(16, '0')}.json`
const keepRejected = 100

/** Writes a file so that after a crash it is either absent or whole. */
function writeDurably(path: string, text: string): void {
  const temp = `${path}.tmp`
  const fd = openSync(temp, 'w', 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, path)
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class AgentQueue {
  readonly agentId: string
  private sequence: number
  private readonly waiting: { sequence: number; bytes: number }[]
  private bytes = 0
  /** Batches dropped because the queue was full, since the agent started. */
  dropped = 0

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(join(dir, 'batches'), { recursive: true, mode: 0o700 })
    mkdirSync(join(dir, 'rejected'), { recursive: true, mode: 0o700 })
    const idFile = join(dir, 'agent-id')
    if (!existsSync(idFile)) writeDurably(idFile, `${randomUUID()}\n`)
    this.agentId = readFileSync(idFile, 'utf8').trim()
    this.waiting = readdirSync(join(dir, 'batches'))
      .filter((name) => /^\d{16}\.json$/.test(name))
      .map((name) => ({
        sequence: Number(name.slice(0, 16)),
        bytes: statSync(join(dir, 'batches', name)).size,
      }))
      .sort((a, b) => a.sequence - b.sequence)
    for (const w of this.waiting) this.bytes += w.bytes
    const stored = existsSync(join(dir, 'sequence')) ? Number(readFileSync(join(dir, 'sequence'), 'utf8')) : 0
    this.sequence = Math.max(Number.isFinite(stored) ? stored : 0, this.waiting.at(-1)?.sequence ?? 0)
  }

  /** Opens (or creates) the queue in `dir`; refuses a directory another live agent holds. */
  static open(dir: string, maxBytes: number): AgentQueue {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const lock = join(dir, 'lock')
    if (existsSync(lock)) {
      const pid = Number(readFileSync(lock, 'utf8'))
      if (pid !== process.pid && Number.isInteger(pid) && processAlive(pid))
        throw new Error(`queue ${dir} is in use by the agent with pid ${pid}`)
    }
    writeFileSync(lock, String(process.pid), { mode: 0o600 })
    return new AgentQueue(dir, maxBytes)
  }

  /** Lets go of the directory. */
  close(): void {
    rmSync(join(this.dir, 'lock'), { force: true })
  }

  get length(): number {
    return this.waiting.length
  }

  get size(): number {
    return this.bytes
  }

  /** Adds a batch built around the next sequence number; drops the oldest when over the bound. */
  enqueue(build: (sequence: number, agentId: string) => string): number {
    const sequence = this.sequence + 1
    const body = build(sequence, this.agentId)
    writeDurably(join(this.dir, 'sequence'), String(sequence))
    this.sequence = sequence
    writeDurably(join(this.dir, 'batches', batchFile(sequence)), body)
    const bytes = Buffer.byteLength(body)
    this.waiting.push({ sequence, bytes })
    this.bytes += bytes
    while (this.bytes > this.maxBytes && this.waiting.length > 1) {
      const oldest = this.waiting[0] as { sequence: number }
      this.remove(oldest.sequence)
      this.dropped++
    }
    return sequence
  }

  /** The oldest waiting batch, or null. */
  oldest(): QueuedBatch | null {
    const first = this.waiting[0]
    if (!first) return null
    return { ...first, body: readFileSync(join(this.dir, 'batches', batchFile(first.sequence)), 'utf8') }
  }

  /** The server has it: forget it. */
  acknowledge(sequence: number): void {
    this.remove(sequence)
  }

  /** The server refused it as invalid: set it aside so the batches behind it can go. */
  reject(sequence: number): void {
    const from = join(this.dir, 'batches', batchFile(sequence))
    if (existsSync(from)) renameSync(from, join(this.dir, 'rejected', batchFile(sequence)))
    this.forget(sequence)
    const rejected = readdirSync(join(this.dir, 'rejected')).sort()
    for (const name of rejected.slice(0, Math.max(0, rejected.length - keepRejected)))
      unlinkSync(join(this.dir, 'rejected', name))
  }

  private remove(sequence: number): void {
    rmSync(join(this.dir, 'batches', batchFile(sequence)), { force: true })
    this.forget(sequence)
  }

  private forget(sequence: number): void {
    const index = this.waiting.findIndex((w) => w.sequence === sequence)
    if (index >= 0) {
      this.bytes -= (this.waiting[index] as { bytes: number }).bytes
      this.waiting.splice(index, 1)
    }
  }
}
