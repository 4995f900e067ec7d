// The backup capability of one replica, as deps.ts builds it: the repositories, the runner of
// jobs, continuous WAL and the schedule ticker, and the timers that drive them. After migrations,
// prepare() (registers the environment's repository) then schedule() (the timers), or start() for
// both; stop() on shutdown.
import { systemAudit } from '../audit/events.ts'
import type { HostPolicy } from '../instances/host-policy.ts'
import type { InstanceReader } from '../instances/service.ts'
import type { KeyService } from '../keys/service.ts'
import type { Sql } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import type { StateStore } from '../platform/state/state-store.ts'
import { compressionAvailable } from './compression.ts'
import type { BackupConfig } from './config.ts'
import * as ops from './repo-ops.ts'
import { RepositoryRegistry } from './repositories.ts'
import { applyRetention } from './retention.ts'
import { BackupRunner, type RunnerDeps } from './runner.ts'
import { ScheduleTicker } from './schedules.ts'
import { triggerBackup } from './service.ts'
import { WalManager } from './wal-manager.ts'

export class Backups {
  readonly repositories: RepositoryRegistry
  readonly runner: BackupRunner
  readonly wal: WalManager
  private readonly ticker: ScheduleTicker
  private readonly timers: NodeJS.Timeout[] = []
  private stopped = false
  private readonly deps: RunnerDeps

  constructor(options: {
    db: Sql
    state: StateStore
    log: Logger
    config: BackupConfig
    keys: KeyService
    replicaId: string
    connectTimeoutMs: number
    hostPolicy: HostPolicy
  }) {
    this.repositories = new RepositoryRegistry({
      db: options.db,
      keyring: () => options.keys.keyring(),
      masterKeys: () => options.keys.masterKeys(),
      config: options.config,
      log: options.log.child({ component: 'backup' }),
    })
    // Repository secrets and backup keys are wrapped by the master key: a rotation re-wraps them.
    options.keys.addMasterKeyHolder({
      name: 'backupRepositories',
      rewrap: async () => {
        const detail = await this.repositories.rewrapKeys()
        return { complete: detail.every((r) => 'unopened' in r && r.unopened.length === 0), detail }
      },
    })
    const instances = (): InstanceReader => ({ db: options.db, keyring: options.keys.keyring() })
    this.deps = {
      db: options.db,
      state: options.state,
      log: options.log.child({ component: 'backup' }),
      config: options.config,
      repositories: this.repositories,
      instances,
      replicaId: options.replicaId,
      connectTimeoutMs: options.connectTimeoutMs,
      hostPolicy: options.hostPolicy,
      onBackupCompleted: (backup) => this.afterBackup(backup),
    }
    this.runner = new BackupRunner(this.deps)
    this.wal = new WalManager(this.deps)
    this.ticker = new ScheduleTicker(this.deps, async (schedule) => {
      const row = await triggerBackup(
        {
          db: options.db,
          audit: systemAudit('backup-scheduler'),
          repositories: this.repositories,
          runner: this.runner,
          defaultCompression: this.runner.compression,
          binDir: options.config.pgBinDir,
        },
        {
          instanceId: schedule.instanceId,
          type: schedule.backupType,
          compression: schedule.compression ?? undefined,
          repository: schedule.repositoryId ?? undefined,
          database: schedule.databaseName ?? undefined,
        },
        { scheduleId: schedule.id },
      )
      return row.id
    })
  }

  /** Registers the environment's repository; with `run`, takes part in the background work. */
  async start(options: { run: boolean }): Promise<void> {
    await this.prepare()
    this.schedule(options)
  }

  /** Before readiness: registers PGA_BACKUP_REPOSITORY, which requests then find as `default`. */
  async prepare(): Promise<void> {
    await this.repositories.registerEnvironmentRepository()
    if (!compressionAvailable(this.deps.config.compression))
      this.deps.log.warn(`${this.deps.config.compression} is not available in this runtime: backups use gzip`)
  }

  /** After readiness, with `run` (PGA_BACKUP_ENABLED): the timers of the runner, continuous WAL
   * and the schedule ticker. Not again after stop(). */
  schedule(options: { run: boolean }): void {
    if (!options.run || this.stopped) return
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const timer = setInterval(
        () =>
          void fn().catch((error) =>
            this.deps.log.warn('backup maintenance failed', { error: String(error) }),
          ),
        ms,
      )
      timer.unref?.()
      this.timers.push(timer)
    }
    every(15_000, () => this.runner.sweep())
    every(15_000, () => this.runner.sweepRestores())
    every(10_000, () => this.wal.sync())
    every(15_000, () => this.ticker.tick())
    void this.wal.sync()
    void this.ticker.tick().catch(() => {})
  }

  /** After a backup: its schedule's retention (over the kind of backups it takes), and
   * continuous WAL once a full exists. */
  private async afterBackup(backup: {
    id: string
    instanceId: string | null
    repositoryId: string
    scheduleId: string | null
  }) {
    void this.wal.sync()
    if (!backup.scheduleId || !backup.instanceId) return
    const schedule = await ops.findSchedule(this.deps.db, backup.scheduleId)
    if (!schedule) return
    const repositoryRow = await this.repositories.resolve(backup.repositoryId)
    if (!repositoryRow) return
    const started = performance.now()
    const outcome = await applyRetention(
      this.deps,
      await this.repositories.open(repositoryRow),
      repositoryRow.id,
      backup.instanceId,
      {
        fullCount: schedule.retentionFullCount,
        days: schedule.retentionDays,
      },
      schedule.backupType === 'logical'
        ? { kind: 'logical', database: schedule.databaseName }
        : { kind: 'physical' },
    )
    if (!outcome) return
    await ops.logExecution(this.deps.db, {
      scheduleId: schedule.id,
      backupId: backup.id,
      step: 'retention',
      status: 'completed',
      message: `deleted ${outcome.deletedBackups.length} backup(s), ${outcome.deletedWal} WAL file(s), ${outcome.orphanBackups.length} leftover(s)`,
      durationMs: Math.round(performance.now() - started),
    })
    for (const id of outcome.deletedBackups)
      await this.runner.audit('backup.deleted', id, 'delete', 'success', {
        reason: 'retention',
        scheduleId: schedule.id,
      })
  }

  async tick(): Promise<void> {
    await this.ticker.tick()
  }

  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true
    for (const timer of this.timers.splice(0)) clearInterval(timer)
    await this.runner.stop(timeoutMs)
    await this.wal.stop()
  }
}
