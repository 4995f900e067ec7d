// Capability probe: what a monitored instance offers, read from its catalog rather than guessed
// from the version string (forks such as Aurora differ), and what the monitoring login may see.
// The collector picks SQL variants from this; the API shows it with plain-language limitations.
import type postgres from 'postgres'
import { metricGroups, planGroup } from '../collector/catalog/index.ts'

export type Capabilities = {
  serverVersion: string
  serverVersionNum: number
  inRecovery: boolean
  user: string
  superuser: boolean
  pgMonitor: boolean
  trackIoTiming: boolean
  /** Statistics views present in pg_catalog (pg_stat_checkpointer since 17, pg_stat_io since 16, ...). */
  views: string[]
  /** Columns of each probed view, so SQL variants can test for a column rather than a version. */
  columns: Record<string, string[]>
  /** Installed extensions and their versions. */
  extensions: Record<string, string>
  /** Schema of pg_stat_statements when installed in the connected database. */
  statementsSchema: string | null
  /** pg_stat_statements is loaded (in shared_preload_libraries): without it every query of the
   * extension fails even where it is created. Absent in probes stored before it was probed. */
  statementsLoaded?: boolean
  /** Schema of each installed extension (absent in probes stored before it was probed). */
  extensionSchemas?: Record<string, string>
  /** pg_wait_sampling is loaded (in shared_preload_libraries; absent in older probes). */
  waitSamplingLoaded?: boolean
  /** What the monitoring cannot do on this instance, and why. */
  limitations: string[]
}

const probedViews = [
  'pg_stat_activity',
  'pg_stat_archiver',
  'pg_stat_bgwriter',
  'pg_stat_checkpointer',
  'pg_stat_database',
  'pg_stat_database_conflicts',
  'pg_stat_io',
  'pg_stat_progress_vacuum',
  'pg_stat_replication',
  'pg_stat_replication_slots',
  'pg_stat_recovery_prefetch',
  'pg_stat_slru',
  'pg_stat_subscription',
  'pg_stat_subscription_stats',
  'pg_stat_user_functions',
  'pg_stat_progress_analyze',
  'pg_stat_progress_basebackup',
  'pg_stat_progress_cluster',
  'pg_stat_progress_copy',
  'pg_stat_progress_create_index',
  'pg_stat_wal',
  'pg_stat_wal_receiver',
  'pg_wait_events',
  'pg_stat_user_tables',
  'pg_stat_user_indexes',
  'pg_replication_slots',
  'pg_locks',
  'pg_settings',
]

type ProbeRow = Omit<
  Capabilities,
  'limitations' | 'columns' | 'extensions' | 'views' | 'extensionSchemas'
> & {
  views: string[] | null
  columns: Record<string, string[]> | null
  extensions: Record<string, string> | null
  extensionSchemas: Record<string, string> | null
}

/** One round trip to the instance; needs no privilege beyond connecting. */
export async function probeCapabilities(sql: postgres.Sql): Promise<Capabilities> {
  const [row] = await sql<ProbeRow[]>`
    select current_setting('server_version') as "serverVersion",
           current_setting('server_version_num')::int as "serverVersionNum",
           pg_is_in_recovery() as "inRecovery",
           current_user as "user",
           (select rolsuper from pg_roles where rolname = current_user) as superuser,
           pg_has_role(current_user, 'pg_monitor', 'member') as "pgMonitor",
           current_setting('track_io_timing')::boolean as "trackIoTiming",
           (select array_agg(c.relname::text order by c.relname) from pg_class c
              join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = 'pg_catalog' and c.relname = any(${probedViews})) as views,
           (select jsonb_object_agg(v.relname, v.columns) from (
              select c.relname::text as relname, array_agg(a.attname::text order by a.attnum) as columns
                from pg_class c
                join pg_namespace n on n.oid = c.relnamespace
                join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
               where (n.nspname = 'pg_catalog' and c.relname = any(${probedViews}))
                  or (c.relname = 'pg_stat_statements' and n.oid = (
                        select extnamespace from pg_extension where extname = 'pg_stat_statements'))
               group by c.relname) v) as columns,
           (select jsonb_object_agg(extname, extversion) from pg_extension) as extensions,
           (select jsonb_object_agg(e.extname, n.nspname) from pg_extension e
              join pg_namespace n on n.oid = e.extnamespace) as "extensionSchemas",
           (select n.nspname::text from pg_extension e join pg_namespace n on n.oid = e.extnamespace
             where e.extname = 'pg_stat_statements') as "statementsSchema",
           current_setting('pg_wait_sampling.profile_period', true) is not null as "waitSamplingLoaded",
           -- The library defines this setting only when preloaded; readable by any login.
           current_setting('pg_stat_statements.max', true) is not null as "statementsLoaded"`
  const probe = row as ProbeRow
  const capabilities = {
    ...probe,
    views: probe.views ?? [],
    columns: probe.columns ?? {},
    extensions: probe.extensions ?? {},
    extensionSchemas: probe.extensionSchemas ?? {},
  }
  return { ...capabilities, limitations: limitationsOf(capabilities) }
}

/** Plain-language consequences of what the probe found. */
export function limitationsOf(c: Omit<Capabilities, 'limitations'>): string[] {
  const out: string[] = []
  if (!c.superuser && !c.pgMonitor) {
    out.push(
      `user ${c.user} is not a member of pg_monitor: query texts and activity of other users are hidden, and settings, replication and WAL views may be incomplete (GRANT pg_monitor TO ${c.user})`,
    )
  }
  if (!c.trackIoTiming)
    out.push('track_io_timing is off: I/O times in statements, database and I/O groups are zero')
  // Groups that cannot run here at all, with the catalog's reason.
  for (const group of metricGroups) {
    const plan = planGroup(group, { ...c, limitations: [] })
    if ('unavailable' in plan) out.push(`the ${group.name} group is off: ${plan.unavailable}`)
  }
  return out
}
