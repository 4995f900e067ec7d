// Runs backup work in the background on this replica: backups, restores and verifications, each
// under a lease (one replica per job; a replica that dies loses its lease and the sweeper marks
// its job failed and removes what it left), with progress and cancellation. The WAL streams and
// the schedules have their own modules; this one starts them.
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { recordAuditEvent, systemAudit } from '../audit/events.ts'
import type { HostPolicy } from '../instances/host-policy.ts'
import type { InstanceReader } from '../instances/service.ts'
import { replicationTargetFor } from '../instances/service.ts'
import type { Sql } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import { compressionAvailable } from './compression.ts'
import type { BackupConfig } from './config.ts'
import { takeBackup } from './engine.ts'
import * as repo from './repo.ts'
import * as ops from './repo-ops.ts'
import type { RepositoryRegistry } from './repositories.ts'
import { runRestore } from './restore-job.ts'
import { type VerifyResult, verifyBackup } from './verify.ts'
import { reserveWalSlot } from './wal-manager.ts'

export type RunnerDeps = {
  db: Sql
  state: StateStore
  log: Logger
  config: BackupConfig
  repositories: RepositoryRegistry
  instances: () => InstanceReader
  replicaId: string
  connectTimeoutMs: number
  /** Checked before every connection to an instance, libpq programs included. */
  hostPolicy: HostPolicy
  /** After a backup completed: retention, WAL streaming (backups.ts). */
  onBackupCompleted?: (backup: repo.BackupRow) => Promise<void>
}

const leaseMs = 15_000

/** Runs `fn` while holding the lease `name` (renewed; the signal aborts when it is lost).
 * Resolves undefined when another replica holds it. */
export async function withLease<T>(
  state: StateStore,
  holder: string,
  name: string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T | undefined> {
  const lease = await state.acquireLease(name, holder, leaseMs)
  if (!lease) return undefined
  const controller = new AbortController()
  const renew = setInterval(() => {
    state.renewLease(lease).then(
      (held) => held || controller.abort(new Error(`lost the lease ${name}`)),
      () => {},
    )
  }, leaseMs / 3)
  try {
    return await fn(controller.signal)
  } finally {
    clearInterval(renew)
    await state.releaseLease(lease).catch(() => {})
  }
}

export class BackupRunner {
  /** Jobs running here, by id: their abort controllers. */
  private readonly active = new Map<string, AbortController>()
  /** Restores running here: the sweeper leaves them alone (leases are re-entrant for a holder). */
  private readonly activeRestores = new Set<string>()
  private readonly running = new Set<Promise<unknown>>()

  constructor(private readonly deps: RunnerDeps) {}

  get compression() {
    const wanted = this.deps.config.compression
    return compressionAvailable(wanted) ? wanted : 'gzip'
  }

  /** Starts a backup that is pending, in the background. */
  startBackup(id: string): void {
    // A replica with backups switched off leaves the job to the others' sweep.
    if (this.deps.config.enabled) this.track(this.runBackup(id))
  }

  /** Starts a restore operation that is pending, in the background. */
  startRestore(id: string): void {
    if (!this.deps.config.enabled || this.activeRestores.has(id)) return
    this.activeRestores.add(id)
    this.track(runRestore(this.deps, id).finally(() => this.activeRestores.delete(id)))
  }

  /** Aborts a job running here; false when it runs elsewhere (its runner polls the flag). */
  abort(id: string): boolean {
    const controller = this.active.get(id)
    controller?.abort(new Error('cancelled'))
    return controller !== undefined
  }

  private track(job: Promise<unknown>) {
    const tracked = job.catch((error) => this.deps.log.error('backup job failed', { error: String(error) }))
    this.running.add(tracked)
    void tracked.finally(() => this.running.delete(tracked))
  }

  private async runBackup(id: string): Promise<void> {
    const { db, state, replicaId, log } = this.deps
    await withLease(state, replicaId, `backup:run:${id}`, async (leaseSignal) => {
      if (!(await repo.markBackupRunning(db, id, replicaId))) return
      const controller = new AbortController()
      leaseSignal.addEventListener('abort', () => controller.abort(leaseSignal.reason), { once: true })
      this.active.set(id, controller)
      const poll = setInterval(async () => {
        const row = await repo.findBackup(db, id).catch(() => null)
        if (row?.cancelRequested) controller.abort(new Error('cancelled'))
      }, 2000)
      const row = (await repo.findBackup(db, id)) as repo.BackupRow
      const repositoryRow = await this.deps.repositories.resolve(row.repositoryId)
      try {
        if (!repositoryRow) throw new Error(`repository ${row.repositoryId} is gone`)
        const repository = await this.deps.repositories.open(repositoryRow)
        const parent = row.parentBackupId ? (await repository.getManifest(row.parentBackupId)).manifest : null
        if (!row.instanceId) throw new Error('the instance was deleted')
        const target = await replicationTargetFor(this.deps.instances(), row.instanceId)
        if (row.backupType !== 'logical' && (await ops.instanceStreamsWal(db, row.instanceId)))
          await reserveWalSlot(this.deps, row.instanceId, target).catch((error) =>
            log.warn('could not reserve the WAL slot: this backup may not reach later points in time', {
              backupId: id,
              error: String(error),
            }),
          )
        let lastWrite = 0
        const started = performance.now()
        const { manifest, sha256 } = await takeBackup({
          repository,
          backupId: id,
          type: row.backupType,
          parent,
          instance: { id: row.instanceId, name: target.name },
          target,
          database: row.databaseName ?? undefined,
          binDir: this.deps.config.pgBinDir,
          compression: row.compression,
          level: this.deps.config.compressionLevel,
          chunkSize: this.deps.config.chunkSize,
          concurrency: this.deps.config.concurrency,
          threads: this.deps.config.threads,
          copyMethod: this.deps.config.copyMethod,
          connectTimeoutMs: this.deps.connectTimeoutMs,
          hostPolicy: this.deps.hostPolicy,
          signal: controller.signal,
          onProgress: ({ bytesDone, bytesTotal }) => {
            if (performance.now() - lastWrite < 1000) return
            lastWrite = performance.now()
            const rate = bytesDone / ((performance.now() - started) / 1000)
            void repo
              .recordProgress(db, id, {
                bytesDone,
                bytesTotal,
                ratePerSecond: Math.round(rate),
                etaSeconds: rate > 0 ? Math.max(0, Math.round((bytesTotal - bytesDone) / rate)) : null,
              })
              .catch(() => {})
          },
        })
        await repo.completeBackup(db, id, {
          pgVersion: manifest.pgVersion,
          systemIdentifier: manifest.instance.systemIdentifier,
          timeline: manifest.timeline || null,
          startLsn: manifest.startLsn,
          endLsn: manifest.endLsn,
          consistentAt: manifest.consistentAt,
          sourceSizeBytes: manifest.stats.sourceBytes,
          storedSizeBytes: manifest.stats.storedBytes,
          fileCount: manifest.fileCount,
          chunkCount: manifest.stats.chunks,
          newChunkCount: manifest.stats.newChunks,
          manifestSha256: sha256,
        })
        await this.audit('backup.completed', id, 'execute', 'success', {
          type: row.backupType,
          sourceBytes: manifest.stats.sourceBytes,
          storedBytes: manifest.stats.storedBytes,
          ...(manifest.copy ? { copyMethod: manifest.copy.method } : {}),
        })
        log.info('backup completed', {
          backupId: id,
          type: row.backupType,
          bytes: manifest.stats.sourceBytes,
          ...(manifest.copy ? { copyMethod: manifest.copy.method, copyNote: manifest.copy.note } : {}),
        })
        if (row.scheduleId)
          await ops.logExecution(db, {
            scheduleId: row.scheduleId,
            backupId: id,
            step: 'backup',
            status: 'completed',
            durationMs: Math.round(performance.now() - started),
            bytesProcessed: manifest.stats.sourceBytes,
          })
        await this.deps
          .onBackupCompleted?.(row)
          .catch((error) => log.warn('after-backup work failed', { backupId: id, error: String(error) }))
      } catch (error) {
        const cancelled = controller.signal.aborted && String(controller.signal.reason).includes('cancelled')
        const message = cancelled ? 'cancelled' : (error as Error).message
        await repo.finishBackup(db, id, cancelled ? 'cancelled' : 'failed', message)
        if (repositoryRow)
          await (await this.deps.repositories.open(repositoryRow)).deleteBackup(id).catch(() => {})
        await this.audit(cancelled ? 'backup.cancelled' : 'backup.failed', id, 'execute', 'failure', {
          error: message,
        })
        if (row.scheduleId)
          await ops.logExecution(db, {
            scheduleId: row.scheduleId,
            backupId: id,
            step: 'backup',
            status: 'failed',
            message,
          })
        log.warn('backup did not complete', { backupId: id, error: message })
      } finally {
        clearInterval(poll)
        this.active.delete(id)
      }
    })
  }

  /** Verifies a backup here (under its lease) and records the result. */
  async verify(id: string): Promise<VerifyResult | undefined> {
    const { db, state, replicaId } = this.deps
    return withLease(state, replicaId, `backup:verify:${id}`, async (signal) => {
      const row = await repo.findBackup(db, id)
      if (!row) return undefined
      const repositoryRow = await this.deps.repositories.resolve(row.repositoryId)
      if (!repositoryRow) throw new Error(`repository ${row.repositoryId} is gone`)
      const repository = await this.deps.repositories.open(repositoryRow)
      const result = await verifyBackup(repository, id, { expectedSha256: row.manifestSha256, signal })
      await repo.recordVerification(db, id, result)
      await this.audit('backup.verified', id, 'execute', result.ok ? 'success' : 'failure', {
        ok: result.ok,
        chunks: result.chunks,
        problems: result.problems.slice(0, 20),
      })
      return result
    })
  }

  /** Backups left `running` by a replica that is gone (its lease expired): failed, cleaned up.
   * Pending ones nobody started (the replica that accepted them died): started here. */
  async sweep(): Promise<void> {
    const { db, state, replicaId } = this.deps
    for (const row of await repo.unfinishedBackups(db)) {
      if (this.active.has(row.id)) continue
      if (row.status === 'pending') {
        if (Date.now() - row.createdAt.getTime() > 5000) this.startBackup(row.id)
        continue
      }
      // Taking its lease succeeds only when its runner is gone.
      await withLease(state, replicaId, `backup:run:${row.id}`, async () => {
        await repo.finishBackup(db, row.id, 'failed', `the replica running it (${row.runner}) stopped`)
        const repositoryRow = await this.deps.repositories.resolve(row.repositoryId)
        if (repositoryRow)
          await (await this.deps.repositories.open(repositoryRow)).deleteBackup(row.id).catch(() => {})
        await this.audit('backup.failed', row.id, 'execute', 'failure', {
          error: 'the replica running it stopped',
        })
      })
    }
  }

  /** Restores left running by a replica that is gone: failed (a partial directory stays, named
   * in the error; a drill's scratch space is removed). */
  async sweepRestores(): Promise<void> {
    const { db, state, replicaId } = this.deps
    for (const row of await ops.unfinishedRestores(db)) {
      if (this.activeRestores.has(row.id)) continue
      if (row.status === 'pending') {
        if (Date.now() - row.createdAt.getTime() > 5000) this.startRestore(row.id)
        continue
      }
      await withLease(state, replicaId, `backup:restore:${row.id}`, async () => {
        await ops.finishRestore(db, row.id, {
          status: 'failed',
          error: `the replica running it (${row.runner}) stopped${row.targetDirectory ? `; ${row.targetDirectory} may hold a partial restore` : ''}`,
        })
        if (row.mode === 'verify')
          await rm(join(this.deps.config.workDir, row.id), { recursive: true, force: true })
      })
    }
  }

  async audit(
    eventType: string,
    id: string,
    action: 'execute' | 'delete',
    outcome: 'success' | 'failure',
    changes: Record<string, unknown>,
  ) {
    await recordAuditEvent(this.deps.db, systemAudit('backups'), {
      eventType,
      resourceType: 'backup',
      resourceId: id,
      action,
      outcome,
      changes,
    }).catch((error) => this.deps.log.error('could not record a backup event', { error: String(error) }))
  }

  /** Aborts what runs here and waits (up to timeoutMs) for the jobs to record their end. */
  async stop(timeoutMs: number): Promise<void> {
    for (const controller of this.active.values()) controller.abort(new Error('the replica is stopping'))
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, timeoutMs))])
  }
}
