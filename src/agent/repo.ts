// SQL of the agent's ingestion: the stream's high-water mark (the batch id check) and the rows of
// one host group for every sample of a batch, written in one statement: the sn_stat_snapshot rows
// (snap_id from RETURNING, one per sample) and the group's rows from the batch's JSON.
import type { MetricGroup } from '../collector/catalog/index.ts'
import type { Db } from '../platform/db/database.ts'

/** Records batch `sequence` of an agent stream; false when it (or a later one) was stored before.
 * Concurrent pushes of one batch serialise on the stream's row: one stores, the other is told. */
export async function advanceStream(
  db: Db,
  s: {
    instanceId: string
    agentId: string
    sequence: number
    hostname: string
    version: string
    samples: number
  },
): Promise<boolean> {
  const rows = await db`
    insert into pga_agent_streams as s (instance_id, agent_id, last_sequence, hostname, version, batches, samples)
    values (${s.instanceId}, ${s.agentId}, ${s.sequence}, ${s.hostname}, ${s.version}, 1, ${s.samples})
    on conflict (instance_id, agent_id) do update
       set last_sequence = excluded.last_sequence, hostname = excluded.hostname, version = excluded.version,
           last_seen = now(), batches = s.batches + 1, samples = s.samples + excluded.samples
     where s.last_sequence < excluded.last_sequence
    returning 1`
  return rows.length === 1
}

export type GroupSample = { takenAt: string; durationMs: number; rows: Record<string, unknown>[] }

const statements = new Map<string, string>()

/** Table and column names come from the catalog; every value is a parameter. */
function insertSql(group: MetricGroup): string {
  const columns = group.columns.map((c) => `"${c.name}"`).join(', ')
  return `
    with samples as (
      select (x ->> 'takenAt')::timestamptz as taken_at, (x ->> 'durationMs')::float8 as duration_ms, x -> 'rows' as rows
        from jsonb_array_elements($3::text::jsonb) x),
    snap as (
      insert into sn_stat_snapshot (instance_id, group_name, datname, taken_at, duration_ms, status, row_count, variant, replica)
      select $1, $2, null, taken_at, duration_ms, 'ok', jsonb_array_length(rows), $4, $5 from samples
      returning snap_id, taken_at),
    written as (
      insert into ${group.table} (snap_id, instance_id, taken_at, ${columns})
      select snap.snap_id, $1, snap.taken_at, ${group.columns.map((c) => `r."${c.name}"`).join(', ')}
        from snap join samples s on s.taken_at = snap.taken_at
        cross join lateral jsonb_populate_recordset(null::${group.table}, s.rows) r
      returning 1)
    select (select count(*)::int from snap) as snapshots, (select count(*)::int from written) as rows`
}

/** Writes one group's rows for the samples of a batch (takenAt unique within it). */
export async function writeGroupSamples(
  db: Db,
  group: MetricGroup,
  p: { instanceId: string; variant: string; replica: string; samples: GroupSample[] },
): Promise<{ snapshots: number; rows: number }> {
  let text = statements.get(group.name)
  if (!text) {
    text = insertSql(group)
    statements.set(group.name, text)
  }
  const [row] = await db.unsafe<{ snapshots: number; rows: number }[]>(
    text,
    [p.instanceId, group.name, JSON.stringify(p.samples), p.variant, p.replica],
    { prepare: true },
  )
  return row ?? { snapshots: 0, rows: 0 }
}
