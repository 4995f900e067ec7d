// Which instances stream WAL, and which replica streams each: every instance with WAL streaming
// on and a completed physical backup streams into the repository of its latest full backup, from
// one replica at a time (a lease per instance). A replica that loses the lease stops its
// receiver; one that dies loses it within the lease time and another takes over, resuming from
// the replication slot, so no WAL is lost while nobody streams (the server keeps it). The slot is
// created reserving WAL before the first physical backup (reserveWalSlot), so the WAL from that
// backup's start on reaches the repository; it is dropped when streaming is switched off. A
// stream restarts when the instance's connection settings change.
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { ConnectionTarget } from '../instances/connection-test.ts'
import { destroyInstanceConnection, openInstanceConnection } from '../instances/connection-test.ts'
import { replicationTargetFor } from '../instances/service.ts'
import { withDeadline } from '../platform/deadline.ts'
import type { Lease } from '../platform/state/state-store.ts'
import { compressionAvailable } from './compression.ts'
import { libpqConnection, runTool } from './libpq.ts'
import { findPgTool } from './pg-tools.ts'
import * as repo from './repo.ts'
import * as ops from './repo-ops.ts'
import type { RunnerDeps } from './runner.ts'
import { WalStream } from './wal-stream.ts'

const leaseMs = 15_000
const statusStatementTimeoutMs = 10_000

/** The replication slot of an instance's continuous WAL. */
export const slotNameOf = (instanceId: string) => `pganalytics_${instanceId.replaceAll('-', '').slice(0, 20)}`

type Running = {
  stream: WalStream
  lease: Lease
  renew: NodeJS.Timeout
  /** Of the connection settings it streams with: a change restarts the stream. */
  fingerprint: string
  close: () => Promise<void>
}

const fingerprintOf = (target: ConnectionTarget) =>
  createHash('sha256')
    .update(
      JSON.stringify([
        target.host,
        target.port,
        target.username,
        target.password ?? null,
        target.sslmode,
        target.sslRootCert ?? null,
      ]),
    )
    .digest('hex')

/** Runs one replication command (CREATE_REPLICATION_SLOT, DROP_REPLICATION_SLOT) through psql on
 * a walsender connection of the instance's replication login. */
async function replicationCommand(
  deps: RunnerDeps,
  target: ConnectionTarget,
  command: string,
): Promise<void> {
  const psql = await findPgTool('psql', 13, { binDir: deps.config.pgBinDir })
  const connection = await libpqConnection(target, {
    replication: true,
    applicationName: 'pganalytics-wal-slot',
    connectTimeoutMs: deps.connectTimeoutMs,
    hostPolicy: deps.hostPolicy,
  })
  try {
    await runTool(
      psql,
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', connection.conninfo, '-c', command],
      connection.env,
    ).finished
  } finally {
    connection.dispose()
  }
}

/** Creates the instance's slot reserving WAL from now, unless it exists: called before a physical
 * backup, so the server keeps the WAL from the backup's start until the stream has stored it
 * (pg_receivewal --create-slot does not reserve, and would begin at the then current segment). */
export async function reserveWalSlot(deps: RunnerDeps, instanceId: string, target: ConnectionTarget) {
  try {
    await replicationCommand(
      deps,
      target,
      `CREATE_REPLICATION_SLOT ${slotNameOf(instanceId)} PHYSICAL RESERVE_WAL`,
    )
  } catch (error) {
    if (!/already exists/.test((error as Error).message)) throw error
  }
}

export class WalManager {
  private readonly streams = new Map<string, Running>()
  private syncing: Promise<void> = Promise.resolve()

  constructor(private readonly deps: RunnerDeps) {}

  /** Instances that should stream now, with the repository to stream into. */
  private async eligible(): Promise<Map<string, string>> {
    const rows = await this.deps.db<{ instanceId: string; repositoryId: string }[]>`
      select distinct on (b.instance_id) b.instance_id as "instanceId", b.repository_id as "repositoryId"
      from backup_metadata b join pga_instances i on i.id = b.instance_id
      where i.wal_streaming and not i.is_self and b.status = 'completed' and b.deleted_at is null
        and b.backup_type = 'full'
      order by b.instance_id, b.finished_at desc`
    return new Map(rows.map((r) => [r.instanceId, r.repositoryId]))
  }

  /** Starts what this replica can lease, stops what it should not stream any more. */
  sync(): Promise<void> {
    this.syncing = this.syncing
      .then(() => this.syncOnce())
      .catch((error) => this.deps.log.warn('WAL streaming check failed', { error: String(error) }))
    return this.syncing
  }

  private async syncOnce() {
    const wanted = await this.eligible()
    for (const [instanceId, running] of this.streams) {
      if (!wanted.has(instanceId)) await this.stopOne(instanceId, running)
      else {
        const target = await replicationTargetFor(this.deps.instances(), instanceId).catch(() => null)
        if (target && fingerprintOf(target) !== running.fingerprint) {
          this.deps.log.info('instance connection changed: restarting its WAL stream', { instanceId })
          await this.stopOne(instanceId, running)
        }
      }
    }
    await this.dropSwitchedOff()
    for (const [instanceId, repositoryId] of wanted) {
      if (this.streams.has(instanceId)) continue
      const lease = await this.leaseOf(instanceId)
      if (!lease) continue
      try {
        await this.startOne(instanceId, repositoryId, lease)
      } catch (error) {
        await this.deps.state.releaseLease(lease).catch(() => {})
        await ops.saveWalProgress(this.deps.db, {
          instanceId,
          repositoryId,
          slotName: slotNameOf(instanceId),
          error: (error as Error).message,
        })
        this.deps.log.warn('could not start WAL streaming', { instanceId, error: (error as Error).message })
      }
    }
  }

  private async startOne(instanceId: string, repositoryId: string, lease: Lease) {
    const { deps } = this
    const repositoryRow = await deps.repositories.resolve(repositoryId)
    if (!repositoryRow) throw new Error('the repository is gone')
    const repository = await deps.repositories.open(repositoryRow)
    const target: ConnectionTarget = await replicationTargetFor(deps.instances(), instanceId)
    const latest = await repo.latestCompleted(deps.db, instanceId, repositoryId, ['full'])
    const pgReceivewal = await findPgTool('pg_receivewal', latest?.pgVersion ?? 13, {
      binDir: deps.config.pgBinDir,
    })
    const slotName = slotNameOf(instanceId)
    const connection = () =>
      libpqConnection(target, {
        applicationName: 'pganalytics-wal',
        connectTimeoutMs: deps.connectTimeoutMs,
        hostPolicy: deps.hostPolicy,
      })
    // The slot's position, read on a kept connection under a deadline. A failed read replaces the
    // connection: a postgres.js client whose reconnect was refused (the server restarting) stays
    // "connecting" and never answers again, which stopped every later upload.
    const openStatus = () =>
      openInstanceConnection(target, {
        connectTimeoutMs: deps.connectTimeoutMs,
        hostPolicy: deps.hostPolicy,
        statementTimeoutMs: statusStatementTimeoutMs,
        lockTimeoutMs: 1_000,
        idleTimeoutSeconds: 60,
        applicationName: 'pganalytics-wal-status',
      })
    let status = openStatus()
    const slotPosition = async () => {
      const sql = status
      try {
        const rows = await withDeadline(
          sql<{ lsn: string | null; active: boolean }[]>`
            select restart_lsn::text as lsn, active from pg_replication_slots where slot_name = ${slotName}`,
          deps.connectTimeoutMs + statusStatementTimeoutMs,
          (error) => destroyInstanceConnection(sql, error),
        )
        return rows[0] ?? null
      } catch (error) {
        if (status === sql) {
          destroyInstanceConnection(sql, error as Error)
          status = openStatus()
        }
        throw error
      }
    }
    const spoolDir = join(deps.config.spoolDir, instanceId)
    mkdirSync(spoolDir, { recursive: true, mode: 0o700 })
    if (!latest?.systemIdentifier) throw new Error('the latest full backup does not name its cluster')
    const stream = new WalStream({
      repository,
      cluster: latest.systemIdentifier,
      pgReceivewal,
      connection,
      slotName,
      spoolDir,
      compression: repositoryCompression(deps),
      intervalMs: deps.config.walIntervalMs,
      slotPosition,
      onProgress: (progress) =>
        ops.saveWalProgress(deps.db, {
          instanceId,
          repositoryId,
          slotName,
          storedLsn: progress.storedLsn,
          lastSegment: progress.lastSegment,
          error: null,
        }),
      onError: (message) =>
        ops.saveWalProgress(deps.db, { instanceId, repositoryId, slotName, error: message }),
      log: deps.log.child({ instanceId }),
    })
    await stream.start()
    const renew = setInterval(() => {
      deps.state.renewLease(lease).then(
        (held) => {
          if (!held) void this.stopOne(instanceId, this.streams.get(instanceId))
        },
        () => {},
      )
    }, leaseMs / 3)
    const close = async () => {
      await status.end({ timeout: 5 }).catch(() => {})
    }
    this.streams.set(instanceId, { stream, lease, renew, close, fingerprint: fingerprintOf(target) })
    deps.log.info('streaming WAL', { instanceId, slot: slotName })
  }

  private async stopOne(instanceId: string, running: Running | undefined) {
    if (!running) return
    this.streams.delete(instanceId)
    clearInterval(running.renew)
    await running.stream.stop()
    await running.close()
    await this.deps.state.releaseLease(running.lease).catch(() => {})
  }

  /** The lease of one instance's continuous WAL: who streams it, or drops its slot. */
  private leaseOf(instanceId: string) {
    return this.deps.state.acquireLease(`backup:wal:${instanceId}`, this.deps.replicaId, leaseMs)
  }

  /** Drops the slots of instances whose streaming was switched off (else the server keeps WAL
   * for them until its disk fills), one replica at a time. */
  private async dropSwitchedOff() {
    for (const { instanceId, slotName } of await ops.switchedOffWalStreams(this.deps.db)) {
      const lease = await this.leaseOf(instanceId)
      if (!lease) continue
      try {
        const target = await replicationTargetFor(this.deps.instances(), instanceId)
        await replicationCommand(this.deps, target, `DROP_REPLICATION_SLOT ${slotName}`).catch(
          (error: Error) => {
            if (!/does not exist/.test(error.message)) throw error
          },
        )
        await ops.deleteWalStream(this.deps.db, instanceId)
        this.deps.log.info('continuous WAL switched off: slot dropped', { instanceId, slot: slotName })
      } catch (error) {
        this.deps.log.warn('could not drop the WAL slot', {
          instanceId,
          slot: slotName,
          error: String(error),
        })
      } finally {
        await this.deps.state.releaseLease(lease).catch(() => {})
      }
    }
  }

  /** Streams running on this replica. */
  get instances(): string[] {
    return [...this.streams.keys()]
  }

  async stop(): Promise<void> {
    await this.syncing
    for (const [instanceId, running] of [...this.streams]) await this.stopOne(instanceId, running)
  }
}

/** The configured compression, or gzip where the runtime lacks it (zstd on Node 20). */
const repositoryCompression = (deps: RunnerDeps) =>
  compressionAvailable(deps.config.compression) ? deps.config.compression : 'gzip'
