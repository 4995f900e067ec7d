// SQL of the snapshot store. One statement writes a snapshot: the sn_stat_snapshot row (its
// snap_id taken from RETURNING) and all its rows in one multi-row INSERT fed by the text the
// monitored server produced, so rows are never parsed in the service and a snapshot is atomic.
import { type Db, withTransaction } from '../platform/db/database.ts'
import type { MetricGroup } from './catalog/index.ts'

export type SnapshotHeader = {
  instanceId: string
  group: string
  datname: string | null
  takenAt: string
  durationMs: number
  variant: string | null
  replica: string
}

export type FailedSnapshot = SnapshotHeader & {
  status: 'failed' | 'unavailable'
  errorCode: string
  error: string
}

/** How a snapshot's rows arrive: `records`, an array literal of composite values in the
 * catalog's column order (what the monitored server sends, see fetchRows), or `json`, an array
 * of objects (what the session sampler builds in the service). */
export type RowsFormat = 'records' | 'json'

export type WrittenSnapshot = { snapId: string; rowCount: number; newQueryIds: string[] }

/** Column lists come from the catalog, never from input. */
const columnList = (group: MetricGroup, prefix = '') =>
  group.columns.map((c) => `${prefix}${c.name}`).join(', ')

// $6 is the rows as text: declared text so the driver passes it through unchanged. Records are
// read with the group's row type (migration 0020): no column name is repeated per row, and the
// store spends about a third of the CPU json_populate_recordset took on the same rows (issue 17).
// JSON is read as json, not jsonb: parsed once, straight into the rows.
function insertSql(group: MetricGroup, format: RowsFormat): string {
  const source =
    format === 'records'
      ? `unnest($6::text::${group.table}_row[])`
      : `json_populate_recordset(null::${group.table}, $6::text::json)`
  const incoming = `incoming as (select * from ${source})`
  const snap = (rowCount: string) => `snap as (
      insert into sn_stat_snapshot (instance_id, group_name, datname, taken_at, duration_ms, status, row_count, variant, replica)
      values ($1, $2, $3, $4, $5, 'ok', ${rowCount}, $7, $8)
      returning snap_id, instance_id, taken_at)`
  const written = (source: string) => `written as (
      insert into ${group.table} (snap_id, instance_id, taken_at, ${columnList(group)})
      select snap.snap_id, snap.instance_id, snap.taken_at, ${columnList(group, `${source}.`)} from snap, ${source}
      returning 1)`
  if (group.storage === 'changes') {
    // Settings: only rows that differ from what was last seen, with the value they replace.
    return `with ${incoming},
    changed as (
      select i.name, i.setting, c.setting as previous_setting, i.unit, i.source, i.pending_restart
        from incoming i
        left join pga_instance_settings c on c.instance_id = $1 and c.name = i.name
       where c.name is null or c.setting is distinct from i.setting
          or c.pending_restart is distinct from i.pending_restart or c.source is distinct from i.source),
    ${snap('(select count(*) from changed)')},
    remembered as (
      insert into pga_instance_settings (instance_id, name, setting, unit, source, pending_restart, changed_at)
      select $1, name, setting, unit, source, pending_restart, $4 from changed
      on conflict (instance_id, name) do update set setting = excluded.setting, unit = excluded.unit,
        source = excluded.source, pending_restart = excluded.pending_restart, changed_at = excluded.changed_at),
    ${written('changed')}
    select snap_id::text as "snapId", (select count(*)::int from written) as "rowCount", '{}'::text[] as "newQueryIds"
      from snap`
  }
  // Statements: which queryids have no stored text yet for this instance; known texts are
  // marked seen (at most once a day each, so the texts table is barely written).
  const newQueryIds = group.queryTexts
    ? `(select coalesce(array_agg(distinct i.queryid::text), '{}') from incoming i
         where not exists (select 1 from sn_statement_texts t where t.instance_id = $1 and t.queryid = i.queryid))`
    : `'{}'::text[]`
  const touched = group.queryTexts
    ? `, touched as (
      update sn_statement_texts t set last_seen = $4 from (select distinct queryid from incoming) i
       where t.instance_id = $1 and t.queryid = i.queryid and t.last_seen < $4::timestamptz - interval '1 day')`
    : ''
  return `with ${incoming}, ${snap('(select count(*) from incoming)')}, ${written('incoming')}${touched}
    select snap_id::text as "snapId", (select count(*)::int from written) as "rowCount", ${newQueryIds} as "newQueryIds"
      from snap`
}

/** Built once per group; prepared on each store connection. */
const insertSqlByGroup = new Map<string, string>()

/** Writes one successful snapshot of a group with its rows (text from the server, see RowsFormat). */
export async function writeSnapshot(
  db: Db,
  group: MetricGroup,
  header: SnapshotHeader,
  rows: string,
  format: RowsFormat = 'json',
): Promise<WrittenSnapshot> {
  const key = `${group.name}:${format}`
  let text = insertSqlByGroup.get(key)
  if (!text) {
    text = insertSql(group, format)
    insertSqlByGroup.set(key, text)
  }
  const [row] = await db.unsafe<WrittenSnapshot[]>(
    text,
    [
      header.instanceId,
      header.group,
      header.datname,
      header.takenAt,
      header.durationMs,
      rows,
      header.variant,
      header.replica,
    ],
    { prepare: true },
  )
  return row as WrittenSnapshot
}

export type PendingSnapshot = { group: MetricGroup; header: SnapshotHeader; rows: string; format: RowsFormat }

/** Writes snapshots in one transaction, their statements pipelined (one commit, one round trip's
 * wait); all or none. */
export async function writeSnapshots(db: Db, items: PendingSnapshot[]): Promise<WrittenSnapshot[]> {
  const write = (to: Db, s: PendingSnapshot) => writeSnapshot(to, s.group, s.header, s.rows, s.format)
  if (items.length === 1) return [await write(db, items[0] as PendingSnapshot)]
  return withTransaction(db, (tx) => Promise.all(items.map((s) => write(tx, s))))
}

/** Records a collection that failed or could not run, so gaps in history explain themselves. */
export async function writeFailedSnapshot(db: Db, snapshot: FailedSnapshot): Promise<void> {
  await db`
    insert into sn_stat_snapshot (instance_id, group_name, datname, taken_at, duration_ms, status, error_code, error, variant, replica)
    values (${snapshot.instanceId}, ${snapshot.group}, ${snapshot.datname}, ${snapshot.takenAt}, ${snapshot.durationMs},
            ${snapshot.status}, ${snapshot.errorCode}, ${snapshot.error}, ${snapshot.variant}, ${snapshot.replica})`
}

/** Stores query texts not seen before for this instance. */
export async function saveQueryTexts(
  db: Db,
  instanceId: string,
  texts: { queryid: string; query: string }[],
) {
  if (texts.length === 0) return
  await db`
    insert into sn_statement_texts (instance_id, queryid, query)
    select ${instanceId}, t.queryid::bigint, t.query
      from jsonb_to_recordset(${db.json(texts as never)}::jsonb) as t(queryid text, query text)
    on conflict do nothing`
}

/** Deletes statement texts not collected for `days` days. Returns how many. */
export async function forgetStatementTexts(db: Db, days: number): Promise<number> {
  const result =
    await db`delete from sn_statement_texts where last_seen < now() - make_interval(days => ${days})`
  return result.count
}
