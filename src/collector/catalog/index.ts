// The metric catalog: every group the collector knows, and the choice of SQL for an instance;
// and the host groups the agent pushes (system.ts), which the read side serves alike.
import type { Capabilities } from '../../instances/probe.ts'
import { bloatApprox, indexBloat, tableBloat } from './bloat.ts'
import { bufferPool, bufferUsage } from './buffers.ts'
import { checkpointState, recoveryPrefetch, slru } from './control.ts'
import { database, databaseSize, indexes, storage, tables } from './databases.ts'
import {
  archiver,
  bgwriter,
  checkpointer,
  io,
  replication,
  replicationSlots,
  wal,
  walReceiver,
} from './engine.ts'
import { functions } from './functions.ts'
import { tableAges, xminHorizon } from './horizon.ts'
import { indexHygiene } from './hygiene.ts'
import { maintenanceProgress } from './maintenance.ts'
import { replicationSlotStats, subscriptions, subscriptionTables } from './replication-logical.ts'
import { sessionSamples } from './sampling.ts'
import { sequences } from './sequences.ts'
import { activity, locks, vacuumProgress } from './sessions.ts'
import { settings, statements, statementsInfo } from './statements.ts'
import { systemGroups } from './system.ts'
import type { MetricGroup } from './types.ts'

export type { Column, ColumnKind, MetricGroup } from './types.ts'

export const metricGroups: readonly MetricGroup[] = [
  database,
  databaseSize,
  tables,
  indexes,
  statements,
  statementsInfo,
  settings,
  bgwriter,
  checkpointer,
  archiver,
  replication,
  walReceiver,
  replicationSlots,
  wal,
  io,
  activity,
  locks,
  vacuumProgress,
  storage,
  xminHorizon,
  tableAges,
  sequences,
  checkpointState,
  slru,
  recoveryPrefetch,
  subscriptions,
  subscriptionTables,
  replicationSlotStats,
  indexHygiene,
  maintenanceProgress,
  functions,
  sessionSamples,
  tableBloat,
  indexBloat,
  bloatApprox,
  bufferPool,
  bufferUsage,
]

export { systemGroups }

/** Every group with history in the store: collected over SQL, then pushed by the host agent. */
export const allGroups: readonly MetricGroup[] = [...metricGroups, ...systemGroups]

const byName = new Map(allGroups.map((g) => [g.name, g]))

/** Names of the groups the collector collects (what instance `intervals` may name). */
export const groupNames = metricGroups.map((g) => g.name)
/** Names of every group, host groups included (read API, retention settings). */
export const allGroupNames = allGroups.map((g) => g.name)

/** Columns no read filters, groups or joins on (counters, gauges, info): ANALYZE skips them
 * (statistics target 0). On these wide, insert-only tables the per-column statistics were most
 * of the store's autoanalyze cost (issue 17); keys, labels, instance_id and taken_at keep theirs. */
export function valueColumns(group: MetricGroup): string[] {
  return group.columns
    .filter((c) => c.kind === 'counter' || c.kind === 'gauge' || c.kind === 'info')
    .map((c) => c.name)
}

/** A group by name, host groups included. */
export function findGroup(name: string): MetricGroup | undefined {
  return byName.get(name)
}

export type PlannedQuery = { sql: string; source: string; counters?: string; sampled?: boolean }

/** The SQL this instance needs for a group, or why the group cannot run there. */
export function planGroup(group: MetricGroup, c: Capabilities): PlannedQuery | { unavailable: string } {
  const reason = group.unavailable?.(c)
  if (reason) return { unavailable: reason }
  const variant = group.variants.find((v) => v.when(c))
  if (!variant) return { unavailable: 'no SQL variant fits this server' }
  return {
    sql: qualify(variant.sql, c),
    source: variant.source,
    ...(variant.counters ? { counters: qualify(variant.counters, c) } : {}),
    ...(variant.sampled ? { sampled: true } : {}),
  }
}

/** The parameters of a planned query: the row cap ($1) where the group has one, and for a
 * query ranked by change the previous run's counters ($2; none yet: '[]'). */
export function queryParams(group: MetricGroup, plan: PlannedQuery, previousCounters?: string): string[] {
  if (group.rowLimit === undefined) return []
  const limit = String(group.rowLimit)
  return plan.counters ? [limit, previousCounters ?? '[]'] : [limit]
}

/** Query texts of statements, for the same instance. */
export function planQueryTexts(group: MetricGroup, c: Capabilities): string | null {
  return group.queryTexts ? qualify(group.queryTexts, c) : null
}

/** Names the pg_stat_statements view with its extension's schema (taken from the catalog), and
 * `{{schema:extension}}` with the schema the probe found that extension in. */
function qualify(sql: string, c: Capabilities): string {
  const quote = (schema: string) => `"${schema.replaceAll('"', '""')}"`
  return sql
    .replaceAll('{{pg_stat_statements}}', `${quote(c.statementsSchema ?? 'public')}.pg_stat_statements`)
    .replace(/\{\{schema:([a-z_]+)\}\}/g, (_, name: string) => quote(c.extensionSchemas?.[name] ?? 'public'))
}
