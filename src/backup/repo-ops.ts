// SQL of what happens around backups: restore operations, schedules and their execution log, and
// the state of each instance's continuous WAL.
import type { Db } from '../platform/db/database.ts'
import type { Compression } from './compression.ts'
import type { BackupType } from './manifest.ts'
import type { RunStatus } from './repo.ts'

export type RestoreRow = {
  id: string
  backupId: string
  mode: 'directory' | 'verify' | 'database'
  status: RunStatus
  target: Record<string, string>
  targetDirectory: string | null
  targetDatabase: string | null
  achievedTarget: unknown
  rtoMs: string | null
  walSegments: number | null
  walBytes: string | null
  restoredSizeBytes: string | null
  checks: unknown
  error: string | null
  runner: string | null
  requestedBy: string | null
  startedAt: Date | null
  finishedAt: Date | null
  createdAt: Date
}

const restoreColumns = (db: Db) => db`
  id, backup_id as "backupId", mode, status, target, target_directory as "targetDirectory",
  target_database as "targetDatabase", achieved_target as "achievedTarget", rto_ms::text as "rtoMs",
  wal_segments as "walSegments", wal_bytes::text as "walBytes", restored_size_bytes::text as "restoredSizeBytes",
  checks, error, runner, requested_by as "requestedBy", started_at as "startedAt", finished_at as "finishedAt",
  created_at as "createdAt"`

export async function insertRestore(
  db: Db,
  row: Pick<
    RestoreRow,
    'id' | 'backupId' | 'mode' | 'target' | 'targetDirectory' | 'targetDatabase' | 'requestedBy'
  >,
): Promise<RestoreRow> {
  const [saved] = await db<RestoreRow[]>`
    insert into restore_operations (id, backup_id, mode, status, target, target_directory, target_database, requested_by)
    values (${row.id}, ${row.backupId}, ${row.mode}, 'pending', ${db.json(row.target)}, ${row.targetDirectory},
            ${row.targetDatabase}, ${row.requestedBy})
    returning ${restoreColumns(db)}`
  return saved as RestoreRow
}

export async function findRestore(db: Db, id: string): Promise<RestoreRow | null> {
  const [row] = await db<RestoreRow[]>`select ${restoreColumns(db)} from restore_operations where id = ${id}`
  return row ?? null
}

export const listRestores = (db: Db, options: { backupId?: string | undefined; limit: number }) => db<
  RestoreRow[]
>`
  select ${restoreColumns(db)} from restore_operations
  ${options.backupId ? db`where backup_id = ${options.backupId}` : db``}
  order by created_at desc limit ${options.limit}`

export const unfinishedRestores = (db: Db) =>
  db<
    RestoreRow[]
  >`select ${restoreColumns(db)} from restore_operations where status in ('pending', 'running')`

export async function markRestoreRunning(db: Db, id: string, runner: string): Promise<boolean> {
  return (
    (
      await db`update restore_operations set status = 'running', runner = ${runner}, started_at = now()
             where id = ${id} and status = 'pending' returning 1`
    ).length > 0
  )
}

export async function finishRestore(
  db: Db,
  id: string,
  outcome: {
    status: 'completed' | 'failed' | 'cancelled'
    error?: string | null
    rtoMs?: number
    walSegments?: number
    walBytes?: number
    restoredSizeBytes?: number
    achievedTarget?: unknown
    checks?: unknown
  },
) {
  await db`
    update restore_operations set status = ${outcome.status}, error = ${outcome.error ?? null}, finished_at = now(),
      rto_ms = ${outcome.rtoMs ?? null}, wal_segments = ${outcome.walSegments ?? null}, wal_bytes = ${outcome.walBytes ?? null},
      restored_size_bytes = ${outcome.restoredSizeBytes ?? null},
      achieved_target = ${outcome.achievedTarget === undefined ? null : db.json(outcome.achievedTarget as never)},
      checks = ${outcome.checks === undefined ? null : db.json(outcome.checks as never)}
    where id = ${id} and status in ('pending', 'running')`
}

export type ScheduleRow = {
  id: string
  name: string
  instanceId: string
  repositoryId: string | null
  backupType: BackupType
  databaseName: string | null
  cronExpression: string
  timeZone: string
  compression: Compression | null
  enabled: boolean
  missedRunPolicy: 'run_once' | 'skip'
  retentionFullCount: number | null
  retentionDays: number | null
  nextRunAt: Date | null
  lastRunAt: Date | null
  createdAt: Date
  updatedAt: Date
}

const scheduleColumns = (db: Db) => db`
  id, name, instance_id as "instanceId", repository_id as "repositoryId", backup_type as "backupType",
  database_name as "databaseName", cron_expression as "cronExpression", time_zone as "timeZone", compression, enabled,
  missed_run_policy as "missedRunPolicy", retention_full_count as "retentionFullCount", retention_days as "retentionDays",
  next_run_at as "nextRunAt", last_run_at as "lastRunAt", created_at as "createdAt", updated_at as "updatedAt"`

export type ScheduleFields = Omit<ScheduleRow, 'id' | 'lastRunAt' | 'createdAt' | 'updatedAt'>

export async function insertSchedule(db: Db, id: string, s: ScheduleFields): Promise<ScheduleRow> {
  const [saved] = await db<ScheduleRow[]>`
    insert into backup_schedule (id, name, instance_id, repository_id, backup_type, database_name, cron_expression,
      time_zone, compression, enabled, missed_run_policy, retention_full_count, retention_days, next_run_at)
    values (${id}, ${s.name}, ${s.instanceId}, ${s.repositoryId}, ${s.backupType}, ${s.databaseName}, ${s.cronExpression},
      ${s.timeZone}, ${s.compression}, ${s.enabled}, ${s.missedRunPolicy}, ${s.retentionFullCount}, ${s.retentionDays},
      ${s.nextRunAt})
    returning ${scheduleColumns(db)}`
  return saved as ScheduleRow
}

export async function updateSchedule(db: Db, id: string, s: ScheduleFields): Promise<ScheduleRow | null> {
  const [saved] = await db<ScheduleRow[]>`
    update backup_schedule set name = ${s.name}, instance_id = ${s.instanceId}, repository_id = ${s.repositoryId},
      backup_type = ${s.backupType}, database_name = ${s.databaseName}, cron_expression = ${s.cronExpression},
      time_zone = ${s.timeZone}, compression = ${s.compression}, enabled = ${s.enabled},
      missed_run_policy = ${s.missedRunPolicy}, retention_full_count = ${s.retentionFullCount},
      retention_days = ${s.retentionDays}, next_run_at = ${s.nextRunAt}, updated_at = now()
    where id = ${id} returning ${scheduleColumns(db)}`
  return saved ?? null
}

export async function findSchedule(db: Db, id: string): Promise<ScheduleRow | null> {
  const [row] = await db<ScheduleRow[]>`select ${scheduleColumns(db)} from backup_schedule where id = ${id}`
  return row ?? null
}

export const listSchedules = (db: Db) =>
  db<ScheduleRow[]>`select ${scheduleColumns(db)} from backup_schedule order by name`

export async function deleteSchedule(db: Db, id: string): Promise<boolean> {
  return (await db`delete from backup_schedule where id = ${id}`).count > 0
}

/** Enabled schedules whose next run is due. */
export const dueSchedules = (db: Db) => db<ScheduleRow[]>`
  select ${scheduleColumns(db)} from backup_schedule where enabled and next_run_at <= now() order by next_run_at`

/** Moves a schedule to its next run, only if it still expected `expected` (one replica wins). */
export async function advanceSchedule(db: Db, id: string, expected: Date, next: Date | null, ran: boolean) {
  return (
    (
      await db`update backup_schedule set next_run_at = ${next}, last_run_at = case when ${ran} then now() else last_run_at end,
             updated_at = now()
             where id = ${id} and date_trunc('milliseconds', next_run_at) = date_trunc('milliseconds', ${expected}::timestamptz)
             returning 1`
    ).length > 0
  )
}

export async function logExecution(
  db: Db,
  entry: {
    scheduleId?: string | null
    backupId?: string | null
    step: string
    status: 'started' | 'completed' | 'failed' | 'skipped'
    message?: string | null
    durationMs?: number | null
    bytesProcessed?: number | null
  },
) {
  await db`
    insert into backup_execution_log (schedule_id, backup_id, step, status, message, duration_ms, bytes_processed)
    values (${entry.scheduleId ?? null}, ${entry.backupId ?? null}, ${entry.step}, ${entry.status},
            ${entry.message ?? null}, ${entry.durationMs ?? null}, ${entry.bytesProcessed ?? null})`
}

export const executionLog = (db: Db, scheduleId: string, limit: number) => db<
  {
    step: string
    status: string
    message: string | null
    backupId: string | null
    durationMs: string | null
    createdAt: Date
  }[]
>`
  select step, status, message, backup_id as "backupId", duration_ms::text as "durationMs", created_at as "createdAt"
  from backup_execution_log where schedule_id = ${scheduleId} order by id desc limit ${limit}`

export type WalStreamRow = {
  instanceId: string
  repositoryId: string
  slotName: string
  timeline: number | null
  storedLsn: string | null
  storedAt: Date | null
  firstSegment: string | null
  lastError: string | null
}

export async function findWalStream(db: Db, instanceId: string): Promise<WalStreamRow | null> {
  const [row] = await db<WalStreamRow[]>`
    select instance_id as "instanceId", repository_id as "repositoryId", slot_name as "slotName", timeline,
           stored_lsn::text as "storedLsn", stored_at as "storedAt", first_segment as "firstSegment", last_error as "lastError"
    from backup_wal_streams where instance_id = ${instanceId}`
  return row ?? null
}

export async function saveWalProgress(
  db: Db,
  row: {
    instanceId: string
    repositoryId: string
    slotName: string
    storedLsn?: string
    lastSegment?: string | null
    error?: string | null
  },
) {
  // A segment's name starts with its timeline (8 hex digits).
  const timeline = row.lastSegment ? Number.parseInt(row.lastSegment.slice(0, 8), 16) : null
  await db`
    insert into backup_wal_streams (instance_id, repository_id, slot_name, timeline, stored_lsn, stored_at, first_segment, last_error)
    values (${row.instanceId}, ${row.repositoryId}, ${row.slotName}, ${timeline}, ${row.storedLsn ?? null}::pg_lsn,
            ${row.storedLsn ? new Date() : null}, ${row.lastSegment ?? null}, ${row.error ?? null})
    on conflict (instance_id) do update set
      repository_id = excluded.repository_id, slot_name = excluded.slot_name,
      timeline = coalesce(excluded.timeline, backup_wal_streams.timeline),
      stored_lsn = coalesce(excluded.stored_lsn, backup_wal_streams.stored_lsn),
      stored_at = coalesce(excluded.stored_at, backup_wal_streams.stored_at),
      first_segment = coalesce(backup_wal_streams.first_segment, excluded.first_segment),
      last_error = excluded.last_error, updated_at = now()`
}

/** Streams of instances whose continuous WAL was switched off: their slots are to be dropped. */
export async function switchedOffWalStreams(db: Db): Promise<{ instanceId: string; slotName: string }[]> {
  return db<{ instanceId: string; slotName: string }[]>`
    select w.instance_id as "instanceId", w.slot_name as "slotName"
    from backup_wal_streams w join pga_instances i on i.id = w.instance_id where not i.wal_streaming`
}

export async function deleteWalStream(db: Db, instanceId: string) {
  await db`delete from backup_wal_streams where instance_id = ${instanceId}`
}

/** Whether the instance streams WAL continuously (its slot is reserved before physical backups). */
export async function instanceStreamsWal(db: Db, instanceId: string): Promise<boolean> {
  const [row] = await db<
    { on: boolean }[]
  >`select wal_streaming as on from pga_instances where id = ${instanceId}`
  return row?.on ?? false
}
