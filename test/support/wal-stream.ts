// Continuous WAL into a test repository, driven by the test: pg_receivewal on a slot of the test
// server, uploads only when asked (`caughtUp`), as the backup tests of point-in-time recovery
// need it (backup-pitr, backup-local).
import type postgres from 'postgres'
import { libpqConnection } from '../../src/backup/libpq.ts'
import { findPgTool } from '../../src/backup/pg-tools.ts'
import type { BackupRepository } from '../../src/backup/repository.ts'
import { WalStream } from '../../src/backup/wal-stream.ts'
import { HostPolicy } from '../../src/instances/host-policy.ts'
import { createLogger } from '../../src/platform/log.ts'
import type { TestPostgres } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { until } from './until.ts'

export async function startTestWalStream(options: {
  server: TestPostgres
  /** A connection to the server, to read the slot. */
  sql: postgres.Sql
  repository: BackupRepository
  slotName: string
}): Promise<{ stream: WalStream; caughtUp: () => Promise<void> }> {
  const { server, sql, slotName } = options
  const [system] = await sql<{ id: string }[]>`select system_identifier::text as id from pg_control_system()`
  const target = {
    host: '127.0.0.1',
    port: server.port,
    database: 'postgres',
    username: 'postgres',
    sslmode: 'disable' as const,
  }
  const hostPolicy = new HostPolicy({ allow: [], deny: [] })
  const slotPosition = async () =>
    (
      await sql<{ lsn: string; active: boolean }[]>`
        select restart_lsn::text as lsn, active from pg_replication_slots where slot_name = ${slotName}`
    )[0] ?? null
  const stream = new WalStream({
    repository: options.repository,
    cluster: system?.id as string,
    pgReceivewal: await findPgTool('pg_receivewal', server.version),
    connection: () =>
      libpqConnection(target, { applicationName: 'pga-test', connectTimeoutMs: 10_000, hostPolicy }),
    slotName,
    spoolDir: tempDir('wal-spool'),
    compression: 'gzip',
    intervalMs: 60_000, // the test drives uploads itself
    slotPosition,
    onProgress: async () => {},
    onError: async () => {},
    log: createLogger({ level: 'error' }),
  })
  await stream.start()

  /** Waits until the WAL up to the server's current position is in the repository. */
  const caughtUp = async () => {
    const [row] = await sql<{ lsn: string }[]>`select pg_current_wal_lsn()::text as lsn`
    const want = row?.lsn as string
    await until(
      'the WAL receiver to catch up',
      async () => {
        await stream.uploadOnce()
        const [slot] = await sql<{ ok: boolean }[]>`
          select restart_lsn >= ${want}::pg_lsn as ok from pg_replication_slots where slot_name = ${slotName}`
        return slot?.ok
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    )
    // The slot may have reached it after that upload read the spool: one more stores it.
    await stream.uploadOnce()
  }
  return { stream, caughtUp }
}
