// A restore operation, run in the background under its lease: into a directory (a startable
// PGDATA), as a drill (restored into scratch space, started, checked, removed), or a logical
// backup into a new database. Records the RTO from the request to the directory written or the
// drill's server open, the WAL used and what the target achieved.
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { openInstanceConnection } from '../instances/connection-test.ts'
import { replicationTargetFor } from '../instances/service.ts'
import { runDrill } from './drill.ts'
import { libpqConnection, runTool } from './libpq.ts'
import type { BackupManifest } from './manifest.ts'
import { findPgTool } from './pg-tools.ts'
import type { RecoveryTarget } from './recovery.ts'
import { restoreToDirectory } from './recovery.ts'
import * as repo from './repo.ts'
import * as ops from './repo-ops.ts'
import type { BackupRepository } from './repository.ts'
import type { RunnerDeps } from './runner.ts'
import { withLease } from './runner.ts'

export function targetOf(row: ops.RestoreRow): RecoveryTarget {
  const t = row.target
  if (t.time) return { kind: 'time', time: t.time }
  if (t.lsn) return { kind: 'lsn', lsn: t.lsn }
  if (t.xid) return { kind: 'xid', xid: t.xid }
  if (t.name) return { kind: 'name', name: t.name }
  return { kind: 'latest' }
}

/** Streams a logical backup's dump into pg_restore, into a new database on its instance. */
async function restoreLogical(
  deps: RunnerDeps,
  repository: BackupRepository,
  manifest: BackupManifest,
  instanceId: string,
  database: string,
  signal: AbortSignal,
) {
  const target = await replicationTargetFor(deps.instances(), instanceId)
  const admin = openInstanceConnection(target, {
    connectTimeoutMs: deps.connectTimeoutMs,
    hostPolicy: deps.hostPolicy,
    statementTimeoutMs: 60_000,
    lockTimeoutMs: 10_000,
    idleTimeoutSeconds: 0,
    applicationName: 'pganalytics-restore',
  })
  try {
    await admin`create database ${admin(database)}`
  } finally {
    await admin.end({ timeout: 5 })
  }
  const pgRestore = await findPgTool('pg_restore', manifest.pgVersion, { binDir: deps.config.pgBinDir })
  const connection = await libpqConnection(target, {
    database,
    applicationName: 'pganalytics-restore',
    connectTimeoutMs: deps.connectTimeoutMs,
    hostPolicy: deps.hostPolicy,
  })
  const file = manifest.files[0]
  if (!file) throw new Error('the logical backup holds no dump')
  const chunks = file.chunks ?? []
  async function* dump() {
    for (const [owner, id, size] of chunks) {
      signal.throwIfAborted()
      yield await repository.getChunk(manifest.owners[owner] as string, id, size)
    }
  }
  try {
    // pg_restore reads the archive from stdin when no file is given.
    const tool = runTool(
      pgRestore,
      ['-d', connection.conninfo, '--no-owner', '-w', '--exit-on-error'],
      connection.env,
      signal,
      {
        stdin: true,
      },
    )
    tool.child.stdout.resume()
    const input = Readable.from(dump())
    input.on(
      'error',
      (error) =>
        tool.child.kill('SIGTERM') && deps.log.warn('restore input failed', { error: String(error) }),
    )
    input.pipe(tool.child.stdin as NodeJS.WritableStream)
    await tool.finished
  } finally {
    connection.dispose()
  }
  return file.size
}

export async function runRestore(deps: RunnerDeps, id: string): Promise<void> {
  await withLease(deps.state, deps.replicaId, `backup:restore:${id}`, async (signal) => {
    if (!(await ops.markRestoreRunning(deps.db, id, deps.replicaId))) return
    const op = (await ops.findRestore(deps.db, id)) as ops.RestoreRow
    try {
      const backup = (await repo.findBackup(deps.db, op.backupId)) as repo.BackupRow
      const repositoryRow = await deps.repositories.resolve(backup.repositoryId)
      if (!repositoryRow) throw new Error('the repository is gone')
      const repository = await deps.repositories.open(repositoryRow)
      const { manifest } = await repository.getManifest(op.backupId)
      const requested = op.createdAt.getTime()
      if (op.mode === 'database') {
        if (!backup.instanceId)
          throw new Error('the instance was deleted: restore the dump with pg_restore yourself')
        const bytes = await restoreLogical(
          deps,
          repository,
          manifest,
          backup.instanceId,
          op.targetDatabase as string,
          signal,
        )
        await ops.finishRestore(deps.db, id, {
          status: 'completed',
          rtoMs: Date.now() - requested,
          restoredSizeBytes: bytes,
        })
        return
      }
      const target = targetOf(op)
      if (op.mode === 'directory') {
        const done = await restoreToDirectory({
          repository,
          manifest,
          directory: op.targetDirectory as string,
          target,
          signal,
          binDir: deps.config.pgBinDir,
        })
        await ops.finishRestore(deps.db, id, {
          status: 'completed',
          rtoMs: Date.now() - requested,
          restoredSizeBytes: done.bytes,
          walSegments: done.walFiles,
          walBytes: done.walBytes,
          achievedTarget: {
            requested: op.target,
            note: 'start the directory with pg_ctl; it recovers to the target',
          },
        })
        return
      }
      const directory = join(deps.config.workDir, id, 'data')
      const done = await restoreToDirectory({
        repository,
        manifest,
        directory,
        target,
        signal,
        binDir: deps.config.pgBinDir,
      })
      const startedDrill = Date.now()
      const drill = await runDrill({
        directory,
        pgVersion: manifest.pgVersion,
        binDir: deps.config.pgBinDir,
        osUser: deps.config.drillOsUser,
        timeoutMs: 30 * 60_000,
      })
      await ops.finishRestore(deps.db, id, {
        status: 'completed',
        rtoMs: startedDrill - requested + Math.round(drill.openedAfterMs),
        restoredSizeBytes: done.bytes,
        walSegments: done.walFiles,
        walBytes: done.walBytes,
        achievedTarget: { requested: op.target, reachedLsn: drill.reachedLsn, stoppedAt: drill.stoppedAt },
        checks: { databases: drill.databases },
      })
    } catch (error) {
      const message = signal.aborted ? `stopped: ${String(signal.reason)}` : (error as Error).message
      await ops.finishRestore(deps.db, id, {
        status: signal.aborted ? 'cancelled' : 'failed',
        error: message,
      })
      deps.log.warn('restore did not complete', { restoreId: id, error: message })
    }
  })
}
