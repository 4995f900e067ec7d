// Continuous WAL of one instance: pg_receivewal through a replication slot into a local spool,
// and an uploader that moves finished segments (and history files) into the repository and,
// every interval, the segment still being written as `<name>.partial`, so what the server has
// committed is in the repository within about one interval (the RPO). The slot keeps the server
// from removing WAL the repository does not have yet, also while no receiver runs. The receiver
// is restarted with back-off when it exits; the service runs one per instance under a lease.
// Progress (and so the RPO) is reported only while a receiver is connected to the slot.
import { mkdirSync } from 'node:fs'
import { readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../platform/log.ts'
import type { Compression } from './compression.ts'
import type { LibpqConnection } from './libpq.ts'
import { runTool, type ToolProcess } from './libpq.ts'
import type { BackupRepository } from './repository.ts'
import { storeWalFile, timelineOf } from './wal-archive.ts'

export type WalProgress = {
  /** The WAL position known to be in the repository (complete or partial segment). */
  storedLsn: string
  /** The last complete segment stored. */
  lastSegment: string | null
  storedAt: Date
}

export type WalStreamOptions = {
  repository: BackupRepository
  /** The cluster's system identifier: the area of the repository its WAL goes to. */
  cluster: string
  pgReceivewal: string
  /** A fresh connection per pg_receivewal run: the host is resolved and checked against the host
   * policy each time (a name may move to another address between runs). */
  connection: () => Promise<LibpqConnection>
  slotName: string
  spoolDir: string
  compression: Compression
  /** How often the partial segment is uploaded: the RPO. */
  intervalMs: number
  /** The slot's flushed position, read just before the files are (a safe lower bound), and
   * whether a receiver is connected to it now. */
  slotPosition: () => Promise<{ lsn: string | null; active: boolean } | null>
  onProgress: (progress: WalProgress) => Promise<void>
  onError: (message: string) => Promise<void>
  log: Logger
}

const segmentFile = /^[0-9A-F]{24}$/
const partialFile = /^[0-9A-F]{24}\.partial$/
const historyFile = /^[0-9A-F]{8}\.history$/

export class WalStream {
  private receiver: ToolProcess | undefined
  private stopped = false
  private timer: NodeJS.Timeout | undefined
  private uploading: Promise<void> = Promise.resolve()
  private partialSeen = new Map<string, string>()
  private failures = 0
  private receiverStartedAt = 0

  constructor(private readonly options: WalStreamOptions) {
    mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 })
  }

  async start(): Promise<void> {
    const { pgReceivewal, slotName } = this.options
    // The slot first (idempotent): from now on the server keeps what we have not received.
    const connection = await this.options.connection()
    try {
      const create = runTool(
        pgReceivewal,
        ['-d', connection.conninfo, '-S', slotName, '--create-slot', '--if-not-exists', '-w'],
        connection.env,
      )
      await create.finished
    } finally {
      connection.dispose()
    }
    this.spawn()
    // One upload at a time; a tick that finds one still running is skipped, not queued behind it.
    let busy = false
    this.timer = setInterval(() => {
      if (busy) return
      busy = true
      this.uploading = this.uploadOnce()
        .catch(() => {})
        .finally(() => {
          busy = false
        })
    }, this.options.intervalMs)
  }

  private spawn() {
    if (this.stopped) return
    this.receiverStartedAt = Date.now()
    this.options.connection().then(
      (connection) => this.run(connection),
      (error: Error) => this.restartLater(error.message),
    )
  }

  private run(connection: LibpqConnection) {
    if (this.stopped) return connection.dispose()
    const { pgReceivewal, slotName, spoolDir } = this.options
    const tool = runTool(
      pgReceivewal,
      ['-d', connection.conninfo, '-D', spoolDir, '-S', slotName, '--synchronous', '-n', '-w'],
      connection.env,
    )
    this.receiver = tool
    this.receiverStartedAt = Date.now()
    tool.child.stdout.resume()
    tool.finished.then(
      () => {
        connection.dispose()
        this.restartLater('pg_receivewal stopped')
      },
      (error: Error) => {
        connection.dispose()
        this.restartLater(error.message)
      },
    )
  }

  private restartLater(reason: string) {
    this.receiver = undefined
    if (this.stopped) return
    // Back-off grows while the receiver keeps failing; a run of a minute or more starts afresh.
    if (Date.now() - this.receiverStartedAt > 60_000) this.failures = 0
    this.failures++
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6))
    this.options.log.warn('WAL receiver stopped; restarting', { reason, retryInMs: delay })
    void this.options.onError(reason).catch(() => {})
    setTimeout(() => this.spawn(), delay).unref()
  }

  /** Moves what is complete into the repository, and the partial segment when it changed. */
  async uploadOnce(): Promise<void> {
    const { repository, cluster, spoolDir, compression } = this.options
    const position = await this.options.slotPosition().catch(() => null)
    const names = (await readdir(spoolDir)).sort()
    let lastSegment: string | null = null
    for (const name of names.filter((n) => historyFile.test(n) || segmentFile.test(n))) {
      await storeWalFile(repository, cluster, name, await readFile(join(spoolDir, name)), compression)
      if (segmentFile.test(name)) {
        lastSegment = name
        // The partial copy of this segment is superseded by the complete one.
        await repository.deleteWal(cluster, timelineOf(name), `${name}.partial`)
        this.partialSeen.delete(`${name}.partial`)
      }
      await rm(join(spoolDir, name))
    }
    for (const name of names.filter((n) => partialFile.test(n))) {
      const info = await stat(join(spoolDir, name)).catch(() => null)
      if (!info) continue
      const version = `${info.size}:${info.mtimeMs}`
      if (this.partialSeen.get(name) === version) continue
      await storeWalFile(repository, cluster, name, await readFile(join(spoolDir, name)), compression)
      this.partialSeen.set(name, version)
    }
    // The repository holds what the server committed only while a receiver streams: otherwise
    // the stored time stands still and the RPO grows, as it does.
    if (position?.lsn && position.active && this.receiver)
      await this.options.onProgress({ storedLsn: position.lsn, lastSegment, storedAt: new Date() })
  }

  /** Stops the receiver and uploads what it left (the last partial included). */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    this.receiver?.child.kill('SIGTERM')
    await this.receiver?.finished.catch(() => {})
    await this.uploading
    await this.uploadOnce().catch((error) =>
      this.options.log.warn('final WAL upload failed', { error: String(error) }),
    )
  }
}
