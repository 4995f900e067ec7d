// Daily partitions of the snapshot tables: created a few days ahead so writes never miss one,
// and dropped whole once past the group's retention (no DELETE, no bloat, no vacuum debt).
// Partition names carry their day (sn_stat_database_p20261121); bounds are UTC midnights.

import type { Db } from '../platform/db/database.ts'
import { withTransaction } from '../platform/db/database.ts'

/** noStatistics: columns ANALYZE skips, set on each new partition (a partition does not take
 * its parent's statistics targets). */
export type PartitionedTable = { table: string; retentionDays: number; noStatistics?: string[] }

const dayMs = 86_400_000
const suffix = /_p(\d{4})(\d{2})(\d{2})$/

const utcDay = (time: number) => new Date(Math.floor(time / dayMs) * dayMs)
const isoDate = (day: Date) => day.toISOString().slice(0, 10)
const partitionName = (table: string, day: Date) => `${table}_p${isoDate(day).replaceAll('-', '')}`

/** Creates the partitions of each table for yesterday through `daysAhead` days from now. Safe to
 * run from several replicas at once: one transaction-scoped advisory lock serialises them. */
export async function ensurePartitions(
  db: Db,
  tables: readonly PartitionedTable[],
  now: number,
  daysAhead = 3,
): Promise<number> {
  return (await createMissingPartitions(db, tables, now, daysAhead)).created
}

/** Drops the partitions whose whole day is older than the table's retention. Returns their names. */
export async function dropExpiredPartitions(
  db: Db,
  tables: readonly PartitionedTable[],
  now: number,
): Promise<string[]> {
  return dropExpired(db, tables, await partitionsOf(db, tables), now)
}

/** ensurePartitions then dropExpiredPartitions, reading the partitions once (start-up and the
 * hourly upkeep). */
export async function maintainPartitions(
  db: Db,
  tables: readonly PartitionedTable[],
  now: number,
): Promise<{ created: number; dropped: string[] }> {
  const { created, existing } = await createMissingPartitions(db, tables, now, 3)
  return { created, dropped: await dropExpired(db, tables, existing, now) }
}

type PartitionRow = { parent: string; partition: string }

async function createMissingPartitions(
  db: Db,
  tables: readonly PartitionedTable[],
  now: number,
  daysAhead: number,
): Promise<{ created: number; existing: PartitionRow[] }> {
  const days = Array.from({ length: daysAhead + 2 }, (_, i) => utcDay(now + (i - 1) * dayMs))
  const wanted = tables.flatMap(({ table, noStatistics = [] }) =>
    days.map((day) => ({ table, day, name: partitionName(table, day), noStatistics })),
  )
  return withTransaction(db, async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('pga_snapshot_partitions'))`
    // Only the missing ones: a restart then issues no DDL (and no "already exists" notice for
    // each of the few hundred partitions), which was most of a replica's start-up time.
    const existing = await partitionsOf(tx, tables)
    const names = new Set(existing.map((row) => row.partition))
    const missing = wanted.filter(({ name }) => !names.has(name))
    if (missing.length === 0) return { created: 0, existing }
    // Table names come from the catalog and days from the clock: no outside input reaches this DDL.
    await tx.unsafe(
      missing
        .map(
          ({ table, day, name, noStatistics }) =>
            `create table if not exists ${name} partition of ${table}
               for values from ('${isoDate(day)} 00:00:00+00') to ('${isoDate(new Date(day.getTime() + dayMs))} 00:00:00+00')` +
            (noStatistics.length > 0
              ? `;\nalter table ${name} ${noStatistics.map((c) => `alter column ${c} set statistics 0`).join(', ')}`
              : ''),
        )
        .join(';\n'),
    )
    return { created: missing.length, existing }
  })
}

/** The partitions of these tables, by parent. */
function partitionsOf(db: Db, tables: readonly PartitionedTable[]) {
  return db<PartitionRow[]>`
    select p.relname::text as parent, c.relname::text as partition
      from pg_inherits i
      join pg_class p on p.oid = i.inhparent
      join pg_class c on c.oid = i.inhrelid
     where p.relname = any(${tables.map((t) => t.table)})`
}

async function dropExpired(
  db: Db,
  tables: readonly PartitionedTable[],
  rows: readonly PartitionRow[],
  now: number,
): Promise<string[]> {
  const retention = new Map(tables.map((t) => [t.table, t.retentionDays]))
  const expired = rows.filter(({ parent, partition }) => {
    const match = suffix.exec(partition)
    if (!match) return false
    const dayEnd = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) + dayMs
    return dayEnd <= now - (retention.get(parent) ?? Number.POSITIVE_INFINITY) * dayMs
  })
  for (const { partition } of expired) await db.unsafe(`drop table if exists ${partition}`)
  return expired.map((e) => e.partition)
}
