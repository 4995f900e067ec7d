// Small pieces of the instance worker: the one-round-trip fetch of a group's rows, the glob
// match of database names, and the stable phase that spreads due times.
import type postgres from 'postgres'
import type { Column } from './catalog/index.ts'
import type { RowsFormat } from './snapshot-repo.ts'

export type Fetched = { takenAt: string; rows: string; format: RowsFormat; counters?: string }

const utcText = (value: string) => `to_char(${value} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** A composite value of the columns in catalog order. Timestamps go as ISO 8601 UTC text: the
 * server's DateStyle shapes a timestamptz's text output (json_agg's does not). */
export const recordOf = (columns: readonly Column[]) =>
  `row(${columns.map((c) => (c.type === 'timestamptz' ? utcText(`t.${c.name}`) : `t.${c.name}`)).join(', ')})`

/** One round trip: the rows as one text (never parsed here) and the server's clock; for a query
 * ranked by change, also the counters the next run ranks against (JSON text, kept as is). Given
 * the group's columns, the rows are an array literal of composite values (what the store reads
 * cheapest, see snapshot-repo.ts); without, a JSON array of objects. */
export async function fetchRows(
  sql: postgres.Sql,
  plan: { sql: string; counters?: string },
  params: string[],
  columns?: readonly Column[],
): Promise<Fetched> {
  const counters = plan.counters ? `, (${plan.counters}) as counters` : ''
  const rows = columns
    ? `coalesce((select array_agg(${recordOf(columns)}) from (${plan.sql}) t)::text, '{}')`
    : `coalesce((select json_agg(t) from (${plan.sql}) t)::text, '[]')`
  const [row] = await sql.unsafe<Fetched[]>(
    `select ${utcText('clock_timestamp()')} as "takenAt", ${rows} as rows${counters}`,
    params,
    { prepare: true },
  )
  return { ...(row as Fetched), format: columns ? 'records' : 'json' }
}

/** A stable number in [0, 1) from a text (FNV-1a), to spread due times. */
export function phaseOf(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return (hash >>> 0) / 0x1_0000_0000
}

/** "orders_*" → /^orders_.*$/ ; only * and ? are special. */
export function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.')
  return new RegExp(`^${escaped}$`)
}
