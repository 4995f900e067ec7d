// Small pieces of the instance worker: the one-round-trip fetch of a group's rows, the glob
// match of database names, and the stable phase that spreads due times.
import type postgres from 'postgres'

export type Fetched = { takenAt: string; rows: string; counters?: string }

/** One round trip: the rows as one JSON array (never parsed here) and the server's clock; for a
 * query ranked by change, also the counters the next run ranks against (JSON text, kept as is). */
export async function fetchRows(
  sql: postgres.Sql,
  plan: { sql: string; counters?: string },
  params: string[],
): Promise<Fetched> {
  const counters = plan.counters ? `, (${plan.counters}) as counters` : ''
  const [row] = await sql.unsafe<Fetched[]>(
    `select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "takenAt",
            coalesce((select json_agg(t) from (${plan.sql}) t)::text, '[]') as rows${counters}`,
    params,
    { prepare: true },
  )
  return row as Fetched
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
