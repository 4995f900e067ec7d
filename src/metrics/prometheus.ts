// Prometheus exposition of the latest collected values of every instance: one metric family per
// numeric catalog column, named pga_<group>_<column> with the unit made explicit (times in ms
// become seconds, counters end in _total, timestamps in _timestamp_seconds), labelled with the
// instance and the row's keys and labels. Staleness is visible through pga_collect_age_seconds.
// Settings are the exception: a few numeric ones as pga_setting{name} (prometheus-settings.ts).

import { backupExposition } from '../backup/exposition.ts'
import { type Column, findGroup, type MetricGroup, systemGroups } from '../collector/catalog/index.ts'
import type { Db } from '../platform/db/database.ts'
import { formatLabels } from '../platform/metrics/registry.ts'
import { settingLines } from './prometheus-settings.ts'

/** Groups exported by default; groups with a row per object, statement or backend are opt-in
 * (cardinality). */
export const defaultExportedGroups = [
  'database',
  'database_size',
  'statements_info',
  'bgwriter',
  'checkpointer',
  'archiver',
  'replication',
  'wal_receiver',
  'replication_slots',
  'wal',
  'io',
  'activity',
  'vacuum_progress',
  'maintenance_progress',
  'storage',
  'checkpoint_state',
  'slru',
  'recovery_prefetch',
  'subscriptions',
  'subscription_tables',
  'replication_slot_stats',
  'buffer_pool',
  // Numeric settings alerts compare against (pga_setting{name}).
  'settings',
  // Host groups from the agent: a few devices, mounts and interfaces per host.
  ...systemGroups.map((g) => g.name),
]
export const exportableGroups = [
  ...defaultExportedGroups,
  'tables',
  'indexes',
  'statements',
  'locks',
  'xmin_horizon',
  'table_ages',
  'sequences',
  'index_hygiene',
  'functions',
  'session_samples',
  'table_bloat',
  'index_bloat',
  'bloat_approx',
  'buffer_usage',
]

type Family = { name: string; help: string; type: 'counter' | 'gauge'; value: (v: unknown) => number | null }

const numeric = (v: unknown) => (v === null || v === undefined ? null : Number(v))

/** The family a column is exported as, or null when it is not a number (text, LSN, arrays). */
export function familyOf(group: MetricGroup, column: Column): Family | null {
  const base = `pga_${group.name}_${column.name}`
  const help = column.help.replace(/\s+/g, ' ')
  if (column.type === 'timestamptz') {
    if (column.kind === 'key' || column.kind === 'label') return null
    return {
      name: `${base}_timestamp_seconds`,
      help,
      type: 'gauge',
      value: (v) => (v ? Date.parse(String(v)) / 1000 : null),
    }
  }
  if (column.type === 'boolean') {
    if (column.kind !== 'gauge') return null
    return {
      name: base,
      help: `${help} (1 true, 0 false)`,
      type: 'gauge',
      value: (v) => (v === null ? null : v ? 1 : 0),
    }
  }
  if (!['bigint', 'integer', 'double precision'].includes(column.type)) return null
  if (column.kind !== 'counter' && column.kind !== 'gauge') return null
  if (column.kind === 'counter') {
    const ms = column.unit === 'ms'
    return {
      name: `${ms ? `${base}_seconds` : base}_total`,
      help,
      type: 'counter',
      value: ms ? (v) => (v === null ? null : Number(v) / 1000) : numeric,
    }
  }
  return { name: base, help, type: 'gauge', value: numeric }
}

const labelText = (labels: [string, string][]) => formatLabels(Object.fromEntries(labels))

type LatestRow = { instance: string; instance_id: string; taken_at: string; row: Record<string, unknown> }

async function latestRows(db: Db, group: MetricGroup): Promise<LatestRow[]> {
  return db.unsafe<LatestRow[]>(
    `with latest as (
       select distinct on (instance_id, datname) snap_id, instance_id, taken_at from sn_stat_snapshot
        where group_name = $1 and status = 'ok' and taken_at > now() - interval '1 hour'
        order by instance_id, datname, taken_at desc)
     select i.name as instance, t.instance_id::text, to_jsonb(t) - 'snap_id' - 'instance_id' - 'taken_at' as row,
            l.taken_at::text
       from ${group.table} t
       join latest l on l.snap_id = t.snap_id and l.taken_at = t.taken_at and l.instance_id = t.instance_id
       join pga_instances i on i.id = t.instance_id`,
    [group.name],
  )
}

/** The whole exposition for the given groups. */
export async function renderInstanceMetrics(db: Db, groups: string[]): Promise<string> {
  const lines: string[] = []
  for (const name of groups) {
    if (name === 'settings') {
      lines.push(...(await settingLines(db)))
      continue
    }
    const group = findGroup(name) as MetricGroup
    const rows = await latestRows(db, group)
    const labelColumns = group.columns.filter(
      (c) =>
        (c.kind === 'key' || c.kind === 'label') &&
        !['integer[]', 'timestamptz'].includes(c.type) &&
        c.name !== 'query',
    )
    for (const column of group.columns) {
      const family = familyOf(group, column)
      if (!family) continue
      const samples: string[] = []
      for (const { instance, instance_id, row } of rows) {
        const value = family.value(row[column.name])
        if (value === null || Number.isNaN(value)) continue
        const labels: [string, string][] = [
          ['instance', instance],
          ['instance_id', instance_id],
          ...labelColumns
            .filter((c) => row[c.name] !== null && row[c.name] !== undefined)
            .map((c) => [c.name, String(row[c.name])] as [string, string]),
        ]
        samples.push(`${family.name}${labelText(labels)} ${value}`)
      }
      if (samples.length === 0) continue
      lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`, ...samples)
    }
  }
  const ages = await db<
    { instance: string; instance_id: string; group_name: string; age: number; ok: boolean }[]
  >`
    select distinct on (s.instance_id, s.group_name) i.name as instance, s.instance_id::text, s.group_name,
           extract(epoch from now() - s.taken_at)::float8 as age, s.status = 'ok' as ok
      from sn_stat_snapshot s join pga_instances i on i.id = s.instance_id
     where s.taken_at > now() - interval '1 day'
     order by s.instance_id, s.group_name, s.taken_at desc`
  if (ages.length > 0) {
    lines.push(
      '# HELP pga_collect_age_seconds Seconds since the last collection of a group, whatever its outcome.',
    )
    lines.push('# TYPE pga_collect_age_seconds gauge')
    for (const a of ages)
      lines.push(
        `pga_collect_age_seconds${labelText([
          ['instance', a.instance],
          ['instance_id', a.instance_id],
          ['group', a.group_name],
        ])} ${a.age}`,
      )
    lines.push('# HELP pga_collect_success 1 when the last collection of a group succeeded, else 0.')
    lines.push('# TYPE pga_collect_success gauge')
    for (const a of ages)
      lines.push(
        `pga_collect_success${labelText([
          ['instance', a.instance],
          ['instance_id', a.instance_id],
          ['group', a.group_name],
        ])} ${a.ok ? 1 : 0}`,
      )
  }
  lines.push(...(await backupExposition(db)))
  return `${lines.join('\n')}\n`
}
