// Service verbs of the read API: series of a group (raw, deltas, rates), the latest values,
// snapshots, top statements in a window, and a two-point comparison report of one instance.
import { allGroupNames, findGroup, type MetricGroup } from '../collector/catalog/index.ts'
import { BadRequestError, NotFoundError } from '../http/errors.ts'
import * as instances from '../instances/service.ts'
import type { Keyring } from '../keys/keyring.ts'
import type { Db } from '../platform/db/database.ts'
import * as repo from './repo.ts'
import { resolveRange } from './time-range.ts'

export type MetricsContext = { db: Db; keyring: Keyring; now: number }

/** Largest number of rows one series request returns. */
export const maxRows = 50_000

function groupOrThrow(name: string): MetricGroup {
  const group = findGroup(name)
  if (!group)
    throw new NotFoundError(
      `No metric group ${name}; groups: ${allGroupNames.join(', ')}.`,
      'unknown_metric_group',
    )
  return group
}

async function instanceOrThrow(ctx: MetricsContext, id: string) {
  return instances.getInstance(ctx, id)
}

export async function metricSeries(
  ctx: MetricsContext,
  id: string,
  groupName: string,
  query: { from?: string; to?: string; step?: number; database?: string; mode: repo.SeriesMode },
) {
  const group = groupOrThrow(groupName)
  await instanceOrThrow(ctx, id)
  if (query.database !== undefined && !group.columns.some((c) => c.name === 'datname'))
    throw new BadRequestError('database_filter_unsupported', `Group ${group.name} has no database column.`, [
      { path: 'query.database', message: 'not supported by this group' },
    ])
  const range = resolveRange(query, ctx.now)
  const series = await repo.readSeries(ctx.db, group, {
    instanceId: id,
    ...range,
    datname: query.database,
    mode: query.mode,
    limit: maxRows + 1,
  })
  if (series.count > maxRows)
    throw new BadRequestError(
      'too_many_points',
      `More than ${maxRows} rows; narrow the range, raise step or filter by database.`,
    )
  return {
    head: {
      instanceId: id,
      group: group.name,
      mode: query.mode,
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      stepSeconds: range.stepSeconds,
      columns: group.columns.map(({ name, type, kind, unit }) => ({ name, type, kind, unit: unit ?? null })),
    },
    rowsJson: series.json,
  }
}

export async function latestMetrics(ctx: MetricsContext, id: string, groupName: string) {
  const group = groupOrThrow(groupName)
  await instanceOrThrow(ctx, id)
  return { head: { instanceId: id, group: group.name }, rowsJson: await repo.readLatest(ctx.db, group, id) }
}

export async function listSnapshots(
  ctx: MetricsContext,
  id: string,
  query: { from?: string; to?: string; group?: string; status?: string; limit: number },
) {
  if (query.group !== undefined) groupOrThrow(query.group)
  await instanceOrThrow(ctx, id)
  const range = resolveRange({ from: query.from, to: query.to }, ctx.now)
  const rows = await repo.listSnapshots(ctx.db, {
    instanceId: id,
    from: range.from,
    to: range.to,
    group: query.group,
    status: query.status,
    limit: query.limit,
  })
  return { items: rows.map((r) => ({ ...r, takenAt: r.takenAt.toISOString() })) }
}

const statementOrders = {
  total_time: repo.byField('total_exec_time'),
  calls: repo.byField('calls'),
  mean_time: `${repo.byField('total_exec_time')} / nullif(${repo.byField('calls')}, 0)`,
  io: `${repo.byField('shared_blks_read')} + ${repo.byField('temp_blks_read')} + ${repo.byField('temp_blks_written')}`,
} as const
export type StatementOrder = keyof typeof statementOrders

type StatementRow = Record<string, unknown> & { queryid: string; calls: number; total_exec_time: number }

export async function topStatements(
  ctx: MetricsContext,
  id: string,
  query: { from?: string; to?: string; orderBy: StatementOrder; limit: number },
) {
  await instanceOrThrow(ctx, id)
  const range = resolveRange({ from: query.from, to: query.to }, ctx.now)
  const rows = JSON.parse(
    await repo.readWindow(ctx.db, groupOrThrow('statements'), {
      instanceId: id,
      from: range.from,
      to: range.to,
      orderBy: statementOrders[query.orderBy],
      limit: query.limit,
    }),
  ) as StatementRow[]
  const texts = await repo.statementTexts(
    ctx.db,
    id,
    rows.map((r) => r.queryid),
  )
  return {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    orderBy: query.orderBy,
    items: rows.map((r) => ({
      ...r,
      mean_exec_time: r.calls > 0 ? r.total_exec_time / r.calls : null,
      query: texts.get(r.queryid) ?? null,
    })),
  }
}

/** What the comparison report shows per group: the busiest series by a field. */
const reportSections: { group: string; orderBy: string; limit: number }[] = [
  { group: 'database', orderBy: repo.byField('xact_commit'), limit: 50 },
  { group: 'database_size', orderBy: repo.byLastValue('bytes'), limit: 50 },
  { group: 'bgwriter', orderBy: repo.byField('buffers_alloc'), limit: 1 },
  { group: 'checkpointer', orderBy: repo.byField('buffers_written'), limit: 1 },
  { group: 'wal', orderBy: repo.byField('lsn_bytes'), limit: 1 },
  { group: 'archiver', orderBy: repo.byField('archived_count'), limit: 1 },
  { group: 'io', orderBy: `${repo.byField('reads')} + ${repo.byField('writes')}`, limit: 20 },
  {
    group: 'tables',
    orderBy: `${repo.byField('seq_tup_read')} + ${repo.byField('idx_tup_fetch')}`,
    limit: 20,
  },
  { group: 'indexes', orderBy: repo.byField('idx_scan'), limit: 20 },
  { group: 'statements', orderBy: repo.byField('total_exec_time'), limit: 20 },
  { group: 'statements_info', orderBy: repo.byField('dealloc'), limit: 1 },
  { group: 'checkpoint_state', orderBy: repo.byLastValue('wal_since_redo_bytes'), limit: 1 },
  { group: 'xmin_horizon', orderBy: repo.byLastValue('horizon_age'), limit: 20 },
  { group: 'table_ages', orderBy: repo.byLastValue('frozenxid_age'), limit: 20 },
  { group: 'sequences', orderBy: repo.byLastValue('used_fraction'), limit: 20 },
  { group: 'index_hygiene', orderBy: repo.byLastValue('size_bytes'), limit: 50 },
  { group: 'functions', orderBy: repo.byField('total_time'), limit: 20 },
  { group: 'session_samples', orderBy: repo.bySum('samples'), limit: 30 },
  { group: 'table_bloat', orderBy: repo.byLastValue('bloat_bytes'), limit: 20 },
  { group: 'index_bloat', orderBy: repo.byLastValue('bloat_bytes'), limit: 20 },
  { group: 'bloat_approx', orderBy: repo.byLastValue('dead_bytes'), limit: 10 },
  { group: 'buffer_pool', orderBy: repo.byLastValue('buffers_used'), limit: 1 },
  { group: 'buffer_usage', orderBy: repo.byLastValue('buffers'), limit: 30 },
  { group: 'slru', orderBy: `${repo.byField('blks_read')} + ${repo.byField('blks_hit')}`, limit: 20 },
  { group: 'subscriptions', orderBy: repo.byLastValue('receipt_age_seconds'), limit: 20 },
  { group: 'replication_slot_stats', orderBy: repo.byField('total_bytes'), limit: 20 },
]

/** pg_profile-style comparison of two points in time: what each counter did in between, gauges
 * at both ends, the busiest objects and statements, and the settings changed. */
export async function compareReport(ctx: MetricsContext, id: string, query: { from: string; to: string }) {
  const instance = await instanceOrThrow(ctx, id)
  const range = resolveRange({ from: query.from, to: query.to }, ctx.now)
  const sections: Record<string, Record<string, unknown>[]> = {}
  for (const section of reportSections) {
    sections[section.group] = JSON.parse(
      await repo.readWindow(ctx.db, groupOrThrow(section.group), {
        instanceId: id,
        from: range.from,
        to: range.to,
        orderBy: section.orderBy,
        limit: section.limit,
      }),
    )
  }
  const statements = sections.statements as StatementRow[]
  const texts = await repo.statementTexts(
    ctx.db,
    id,
    statements.map((s) => s.queryid),
  )
  sections.statements = statements.map((s) => ({ ...s, query: texts.get(s.queryid) ?? null }))
  sections.settingsChanged = (await repo.settingChanges(ctx.db, id, range.from, range.to)).map((c) => ({
    ...c,
    takenAt: c.takenAt.toISOString(),
  }))
  return {
    instance: { id, name: instance.name },
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    sections,
  }
}
