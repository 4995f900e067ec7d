// SQL of the read side. Rows come back from the store as one JSON text (bigints exact, nothing
// re-parsed). Column and table names come from the catalog only; every value is a parameter.
// Deltas and rates use lag() per series and are null across a stats reset or a counter that went
// down (a crash restart or pg_stat_reset), the community edition's guard made general.
import type { MetricGroup } from '../collector/catalog/index.ts'
import type { Db } from '../platform/db/database.ts'

export type SeriesMode = 'raw' | 'delta' | 'rate'

const q = (name: string) => `"${name}"`
/** bigint identifiers (queryid) travel as strings: JSON clients would round them. */
const exact = (c: MetricGroup['columns'][number]) =>
  c.kind === 'key' && c.type === 'bigint' ? `${q(c.name)}::text` : q(c.name)
const keysOf = (group: MetricGroup) => group.columns.filter((c) => c.kind === 'key').map((c) => c.name)
const hasReset = (group: MetricGroup) => group.columns.some((c) => c.name === 'stats_reset')
/** Partition expression of one series: its key columns (a constant for one-row groups). */
const seriesOf = (group: MetricGroup) =>
  keysOf(group).length > 0 ? keysOf(group).map(q).join(', ') : 'instance_id'

/** Guarded difference of a counter against the previous sample of its series. */
function difference(group: MetricGroup, column: string, mode: SeriesMode): string {
  const reset = hasReset(group) ? ' or stats_reset is distinct from prev_stats_reset' : ''
  const diff = `(${q(column)} - ${q(`prev_${column}`)})`
  const value =
    mode === 'rate'
      ? `${diff}::double precision / nullif(extract(epoch from taken_at - prev_taken_at), 0)`
      : diff
  return `case when ${q(`prev_${column}`)} is null or ${q(column)} < ${q(`prev_${column}`)}${reset} then null else ${value} end`
}

/** Samples of one group for one instance: the last per step, raw or as deltas/rates of counters. */
export async function readSeries(
  db: Db,
  group: MetricGroup,
  p: {
    instanceId: string
    from: Date
    to: Date
    stepSeconds: number
    datname?: string | undefined
    mode: SeriesMode
    limit: number
  },
): Promise<{ json: string; count: number }> {
  const columns = group.columns
  const counters = columns.filter((c) => c.kind === 'counter').map((c) => c.name)
  const lagged = [...counters, ...(hasReset(group) ? ['stats_reset'] : [])]
  const output = columns.map((c) =>
    p.mode !== 'raw' && c.kind === 'counter'
      ? `'${c.name}', ${difference(group, c.name, p.mode)}`
      : `'${c.name}', ${q(c.name)}`,
  )
  // jsonb_build_object takes at most 100 arguments: build in chunks of 40 columns.
  const chunks: string[] = []
  for (let i = 0; i < output.length; i += 40)
    chunks.push(`jsonb_build_object(${output.slice(i, i + 40).join(', ')})`)
  const datnameFilter =
    p.datname !== undefined && columns.some((c) => c.name === 'datname')
      ? 'and datname = $5'
      : 'and $5::text is null'
  const text = `
    with samples as (
      select *, date_bin(make_interval(secs => $4), taken_at, $2::timestamptz) as bucket
        from ${group.table}
       where instance_id = $1 and taken_at >= $2::timestamptz - make_interval(secs => $4) and taken_at <= $3
         ${datnameFilter}),
    last_per_step as (
      select distinct on (${seriesOf(group)}, bucket) * from samples order by ${seriesOf(group)}, bucket, taken_at desc),
    lagged as (
      select *, lag(taken_at) over w as prev_taken_at
             ${lagged.map((c) => `, lag(${q(c)}) over w as ${q(`prev_${c}`)}`).join('')}
        from last_per_step window w as (partition by ${seriesOf(group)} order by taken_at)),
    shown as (
      select taken_at, ${chunks.length > 0 ? chunks.join(' || ') : "'{}'::jsonb"} as doc
        from lagged where taken_at >= $2::timestamptz
       order by ${seriesOf(group)}, taken_at
       limit $6)
    select coalesce(jsonb_agg(jsonb_build_object('time', taken_at) || doc), '[]')::text as json, count(*)::int as count
      from shown`
  const [row] = await db.unsafe<{ json: string; count: number }[]>(text, [
    p.instanceId,
    p.from.toISOString(),
    p.to.toISOString(),
    p.stepSeconds,
    p.datname ?? null,
    p.limit,
  ])
  return row as { json: string; count: number }
}

/** Rows of the newest successful snapshot of a group (one per database for per-database groups). */
export async function readLatest(db: Db, group: MetricGroup, instanceId: string): Promise<string> {
  const [row] = await db.unsafe<{ json: string }[]>(
    `with latest as (
       select distinct on (datname) snap_id, taken_at from sn_stat_snapshot
        where instance_id = $1 and group_name = $2 and status = 'ok'
        order by datname, taken_at desc)
     select coalesce(jsonb_agg(jsonb_build_object('time', t.taken_at) || (to_jsonb(t) - 'snap_id' - 'instance_id' - 'taken_at')
                              ${group.columns
                                .filter((c) => c.kind === 'key' && c.type === 'bigint')
                                .map((c) => `|| jsonb_build_object('${c.name}', t.${q(c.name)}::text)`)
                                .join(' ')}), '[]')::text as json
       from ${group.table} t join latest l on l.snap_id = t.snap_id and l.taken_at = t.taken_at
      where t.instance_id = $1`,
    [instanceId, group.name],
  )
  return row?.json ?? '[]'
}

export type SnapshotFilter = {
  instanceId: string
  from: Date
  to: Date
  group?: string | undefined
  status?: string | undefined
  limit: number
}

export async function listSnapshots(db: Db, f: SnapshotFilter) {
  return db<
    {
      snapId: string
      group: string
      datname: string | null
      takenAt: Date
      durationMs: number
      status: string
      errorCode: string | null
      error: string | null
      rowCount: number
      variant: string | null
      replica: string
    }[]
  >`
    select snap_id::text as "snapId", group_name as "group", datname, taken_at as "takenAt", duration_ms as "durationMs",
           status, error_code as "errorCode", error, row_count as "rowCount", variant, replica
      from sn_stat_snapshot
     where instance_id = ${f.instanceId} and taken_at >= ${f.from} and taken_at <= ${f.to}
       and (${f.group ?? null}::text is null or group_name = ${f.group ?? null})
       and (${f.status ?? null}::text is null or status = ${f.status ?? null})
     order by taken_at desc
     limit ${f.limit}`
}

/** Guarded per-sample increase, summed over a window; after a reset the counter itself counts,
 * and so does a series that first appears after the window's first sample (a new statement). */
function increase(column: string): string {
  const [c, prev] = [q(column), q(`prev_${column}`)]
  return `sum(case when ${prev} is null then case when taken_at > window_start then ${c} else 0 end
                   when ${c} < ${prev} or reset_changed then ${c} else ${c} - ${prev} end)`
}

/** An ordering over a readWindow row: a counter's increase, or an expression of several. */
export const byField = (field: string) => `(doc ->> '${field.replace(/[^a-z_]/g, '')}')::numeric`
/** An ordering by a gauge's value at the end of the window. */
export const byLastValue = (field: string) =>
  `(doc -> '${field.replace(/[^a-z_]/g, '')}' ->> 'last')::numeric`

/** An ordering by a summable gauge's total over the window (amounts per snapshot). */
export const bySum = (field: string) => `(doc -> '${field.replace(/[^a-z_]/g, '')}' ->> 'sum')::numeric`

/**
 * For each series of a group in [from, to]: counters as their increase over the window (summed
 * sample to sample, so resets lose nothing), gauges at the first and last sample, and summable
 * gauges (amounts per snapshot, such as session samples) also as their sum.
 */
export async function readWindow(
  db: Db,
  group: MetricGroup,
  p: { instanceId: string; from: Date; to: Date; orderBy: string; limit: number },
  // orderBy: an expression over `doc` built with byField from catalog names, never from input.
): Promise<string> {
  const keys = keysOf(group)
  const counters = group.columns.filter((c) => c.kind === 'counter').map((c) => c.name)
  const gauges = group.columns.filter((c) => c.kind === 'gauge').map((c) => c.name)
  const labels = group.columns.filter((c) => c.kind === 'label').map((c) => c.name)
  const summable = new Set(group.columns.filter((c) => c.summable).map((c) => c.name))
  const series = keys.length > 0 ? keys.map(q).join(', ') : 'instance_id'
  const fields = [
    ...group.columns.filter((c) => c.kind === 'key').map((c) => `'${c.name}', ${exact(c)}`),
    ...labels.map((l) => `'${l}', (array_agg(${q(l)} order by taken_at desc))[1]`),
    ...counters.map((c) => `'${c}', ${increase(c)}`),
    ...gauges.map(
      (g) =>
        `'${g}', jsonb_build_object('first', (array_agg(${q(g)} order by taken_at))[1], 'last', (array_agg(${q(g)} order by taken_at desc))[1]${summable.has(g) ? `, 'sum', sum(${q(g)})` : ''})`,
    ),
  ]
  const chunks: string[] = []
  for (let i = 0; i < fields.length; i += 40)
    chunks.push(`jsonb_build_object(${fields.slice(i, i + 40).join(', ')})`)
  const text = `
    with lagged as (
      select *, min(taken_at) over () as window_start,
             ${hasReset(group) ? `stats_reset is distinct from lag(stats_reset) over w and lag(taken_at) over w is not null` : 'false'} as reset_changed
             ${counters.map((c) => `, lag(${q(c)}) over w as ${q(`prev_${c}`)}`).join('')}
        from ${group.table}
       where instance_id = $1 and taken_at >= $2 and taken_at <= $3
      window w as (partition by ${series} order by taken_at)),
    per_series as (
      select ${chunks.join(' || ')} as doc from lagged group by ${series})
    select coalesce(jsonb_agg(doc order by ${p.orderBy} desc nulls last), '[]')::text as json
      from (select doc from per_series order by ${p.orderBy} desc nulls last limit $4) top`
  const [row] = await db.unsafe<{ json: string }[]>(text, [
    p.instanceId,
    p.from.toISOString(),
    p.to.toISOString(),
    p.limit,
  ])
  return row?.json ?? '[]'
}

/** Texts of the given statements of an instance, by queryid. */
export async function statementTexts(
  db: Db,
  instanceId: string,
  queryIds: string[],
): Promise<Map<string, string>> {
  if (queryIds.length === 0) return new Map()
  const rows = await db<{ queryid: string; query: string }[]>`
    select queryid::text, query from sn_statement_texts where instance_id = ${instanceId} and queryid = any(${queryIds}::bigint[])`
  return new Map(rows.map((r) => [r.queryid, r.query]))
}

/** Settings that changed in the window, in order. */
export async function settingChanges(db: Db, instanceId: string, from: Date, to: Date) {
  return db<
    {
      takenAt: Date
      name: string
      setting: string | null
      previousSetting: string | null
      pendingRestart: boolean | null
    }[]
  >`
    select taken_at as "takenAt", name, setting, previous_setting as "previousSetting", pending_restart as "pendingRestart"
      from sn_settings_changes
     where instance_id = ${instanceId} and taken_at > ${from} and taken_at <= ${to} and previous_setting is not null
     order by taken_at, name`
}
