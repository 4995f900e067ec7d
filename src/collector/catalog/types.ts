// The shape of a metric group definition. Groups are data: a name, a scope, intervals, the
// canonical columns every PostgreSQL version yields, and SQL variants chosen by what the
// instance's capability probe found (views, columns, extension versions), not by version alone.
import type { Capabilities } from '../../instances/probe.ts'

/** How a column is read: keys identify a series, counters only grow (deltas and rates make
 * sense), gauges are point values, labels and info describe the row. */
export type ColumnKind = 'key' | 'label' | 'counter' | 'gauge' | 'info'

export type ColumnType =
  | 'bigint'
  | 'integer'
  | 'double precision'
  | 'text'
  | 'boolean'
  | 'timestamptz'
  | 'pg_lsn'
  | 'inet'
  | 'oid'
  | 'integer[]'

export type Column = {
  name: string
  type: ColumnType
  kind: ColumnKind
  unit?: 'bytes' | 'ms' | 'seconds' | 'blocks' | 'count'
  help: string
  /** A gauge that is an amount per snapshot (not a level): windows also report its sum. */
  summable?: boolean
}

export type SqlVariant = {
  /** Which instances this SQL suits; the first variant whose predicate holds is used. */
  when: (c: Capabilities) => boolean
  /** One line for docs/METRICS.md: the source views and the versions this variant covers. */
  source: string
  /** Returns exactly the group's columns (snap_id, instance_id and taken_at are added on write).
   * `$1` is the row cap where `rowLimit` is set. Never takes user input. */
  sql: string
  /** Set when rows are ranked by their change since the previous run: SQL returning, as JSON
   * text, the counters the next run passes back as `$2` (the worker keeps them in memory). */
  counters?: string
  /** Set for one sample of session sampling: the collector's sampler runs this SQL every
   * PGA_COLLECTOR_SESSION_SAMPLE_SECONDS on a kept connection and a snapshot stores the sums of
   * its rows (`samples`, `samples_taken`) since the previous one, not one run of the SQL. */
  sampled?: boolean
}

export type MetricGroup = {
  name: string
  /** instance: one query per instance; database: one query per discovered database. */
  scope: 'instance' | 'database'
  /** Table of the snapshots (partitioned by taken_at). Its columns, and the attributes of its
   * row type `<table>_row` (how the rows travel, migration 0020), mirror `columns`: a new column
   * needs both in a migration (test/integration/catalog.test.ts, snapshot-records.test.ts). */
  table: string
  help: string
  defaultIntervalSeconds: number
  defaultRetentionDays: number
  columns: Column[]
  variants: SqlVariant[]
  /** Why the group cannot run on this instance (null: it can). Checked before choosing a variant. */
  unavailable?: (c: Capabilities) => string | null
  /** What a login with only pg_monitor misses in this group, if anything. */
  privileges: string
  /** Largest number of rows a snapshot keeps (tables, indexes, statements: the biggest first). */
  rowLimit?: number
  /** SQL returning (queryid, query) for the queryids in $1, stored once per queryid. */
  queryTexts?: string
  /** How rows are stored: every snapshot, or only what changed since the last one. */
  storage?: 'rows' | 'changes'
  /** Set for host groups, which `pganalytics agent` pushes (no SQL): what it reads them from. */
  agentSource?: string
}

export const hasView = (c: Capabilities, view: string) => c.views.includes(view)
export const hasColumn = (c: Capabilities, view: string, column: string) =>
  (c.columns[view] ?? []).includes(column)
