// Session groups, sampled often because they are point-in-time: what backends are doing (by
// state and wait event, with the oldest transaction and query), who blocks whom, and running
// vacuums. None of them are counters.
import { gauge, key, label } from './columns.ts'
import { hasColumn, type MetricGroup } from './types.ts'

const notMe = 'a.pid <> pg_backend_pid()'

export const activity: MetricGroup = {
  name: 'activity',
  scope: 'instance',
  table: 'sn_stat_activity',
  help: 'Backends grouped by database, user, type, state and wait event, with their oldest transaction, query and state ages.',
  defaultIntervalSeconds: 15,
  defaultRetentionDays: 7,
  privileges:
    'Without pg_monitor (pg_read_all_stats) the state and wait events of other users’ sessions are null.',
  columns: [
    key('datname', 'text', 'Database (null for background processes).'),
    key('usename', 'text', 'User.'),
    key('backend_type', 'text', 'client backend, autovacuum worker, walsender, ...'),
    key('state', 'text', 'active, idle, idle in transaction, ...'),
    key('wait_event_type', 'text', 'Wait event type (null when not waiting).'),
    key('wait_event', 'text', 'Wait event.'),
    gauge('sessions', 'integer', 'Backends in this group.'),
    gauge('max_xact_age_seconds', 'double precision', 'Oldest open transaction.', 'seconds'),
    gauge('max_query_age_seconds', 'double precision', 'Longest-running current query.', 'seconds'),
    gauge('max_state_age_seconds', 'double precision', 'Longest time in this state.', 'seconds'),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_stat_activity',
      sql: `select a.datname::text, a.usename::text, a.backend_type, a.state, a.wait_event_type, a.wait_event,
                   count(*)::integer as sessions,
                   extract(epoch from max(now() - a.xact_start))::double precision as max_xact_age_seconds,
                   extract(epoch from max(now() - a.query_start) filter (where a.state = 'active'))::double precision
                     as max_query_age_seconds,
                   extract(epoch from max(now() - a.state_change))::double precision as max_state_age_seconds
              from pg_stat_activity a
             where ${notMe}
             group by 1, 2, 3, 4, 5, 6`,
    },
  ],
}

/** Sessions waiting on a lock and sessions blocking them. A root blocker waits for nothing: its
 * lock columns and wait_seconds are null. A session waiting on a row (its transactionid lock has
 * no relation) is named by the table of the tuple lock it holds while waiting, or else of the
 * relation lock its statement took. */
const lockWaitsSelect = (waitSeconds: string) => `with waiting as (
              select a.pid, pg_blocking_pids(a.pid) as blocking_pids from pg_stat_activity a
               where a.wait_event_type = 'Lock' and ${notMe}
            )
            select a.pid, a.datname::text, a.usename::text, a.application_name, a.state, a.wait_event_type,
                   a.wait_event, coalesce(w.blocking_pids, '{}') as blocking_pids,
                   (select count(*) from waiting x where a.pid = any(x.blocking_pids))::integer as blocked_sessions,
                   l.locktype as lock_type, l.mode as lock_mode,
                   case when rel.database = (select oid from pg_database where datname = current_database())
                        then rel.relation::regclass::text else rel.relation::text end as relation,
                   case when w.pid is not null then ${waitSeconds} end as wait_seconds,
                   extract(epoch from now() - a.xact_start)::double precision as xact_age_seconds,
                   left(a.query, 1000) as query
              from pg_stat_activity a
              left join waiting w on w.pid = a.pid
              left join lateral (select * from pg_locks l where l.pid = a.pid and not l.granted limit 1) l on true
              left join lateral (
                select l.database, l.relation where l.relation is not null
                union all
                (select h.database, h.relation from pg_locks h
                  where l.locktype = 'transactionid' and h.pid = a.pid and h.granted
                    and h.locktype in ('tuple', 'relation') and h.relation >= 16384
                  order by h.locktype = 'tuple' desc, h.mode = 'RowExclusiveLock' desc limit 1)
                limit 1) rel on true
             where w.pid is not null or exists (select 1 from waiting x where a.pid = any(x.blocking_pids))`

export const locks: MetricGroup = {
  name: 'locks',
  scope: 'instance',
  table: 'sn_lock_waits',
  help: 'Blocking chains: every session waiting on a lock, and every session blocking one, with whom it waits for.',
  defaultIntervalSeconds: 15,
  defaultRetentionDays: 7,
  privileges:
    'Without pg_monitor (pg_read_all_stats) the queries and states of other users’ sessions are hidden.',
  columns: [
    key('pid', 'integer', 'Process.'),
    label('datname', 'text', 'Database.'),
    label('usename', 'text', 'User.'),
    label('application_name', 'text', 'Application.'),
    label('state', 'text', 'State (a root blocker is often idle in transaction).'),
    label('wait_event_type', 'text', 'Wait event type.'),
    label('wait_event', 'text', 'Wait event.'),
    label('blocking_pids', 'integer[]', 'Sessions this one waits for (empty for a root blocker).'),
    gauge('blocked_sessions', 'integer', 'Sessions waiting directly on this one.'),
    label('lock_type', 'text', 'Type of the lock it waits for.'),
    label('lock_mode', 'text', 'Mode of the lock it waits for.'),
    label(
      'relation',
      'text',
      'Relation of that lock (for a row lock, the table of the row), when in the collected database (else its oid).',
    ),
    gauge(
      'wait_seconds',
      'double precision',
      'How long it has waited for the lock (null for a root blocker, and before 14, which does not record when a wait began).',
      'seconds',
    ),
    gauge('xact_age_seconds', 'double precision', 'Age of its transaction.', 'seconds'),
    label('query', 'text', 'Its current or last query (first 1,000 characters).'),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_locks', 'waitstart'),
      source: 'pg_stat_activity, pg_blocking_pids, pg_locks (PostgreSQL ≥ 14)',
      // waitstart is null for an instant after a wait begins.
      sql: lockWaitsSelect('extract(epoch from now() - coalesce(l.waitstart, now()))::double precision'),
    },
    {
      when: () => true,
      source: 'pg_stat_activity, pg_blocking_pids, pg_locks (PostgreSQL ≤ 13: no wait start)',
      sql: lockWaitsSelect('null::double precision'),
    },
  ],
}

/** Vacuums in progress; `tail` maps the memory and index columns that changed in 17 and 18. */
const vacuumProgressSelect = (tail: string) => `select p.pid, p.datname::text,
                   case when p.datname = current_database() then p.relid::regclass::text else p.relid::text end
                     as relation,
                   a.backend_type = 'autovacuum worker' as autovacuum, p.phase, p.heap_blks_total,
                   p.heap_blks_scanned, p.heap_blks_vacuumed, p.index_vacuum_count,
                   extract(epoch from now() - a.xact_start)::double precision as running_seconds, ${tail}
              from pg_stat_progress_vacuum p
              left join pg_stat_activity a on a.pid = p.pid`

export const vacuumProgress: MetricGroup = {
  name: 'vacuum_progress',
  scope: 'instance',
  table: 'sn_vacuum_progress',
  help: 'Vacuums running now (manual and autovacuum): phase, heap blocks scanned and vacuumed, index passes, run time.',
  defaultIntervalSeconds: 30,
  defaultRetentionDays: 7,
  privileges: 'Without pg_monitor only the login’s own vacuums are visible.',
  columns: [
    key('pid', 'integer', 'Process.'),
    label('datname', 'text', 'Database.'),
    label('relation', 'text', 'Table, when in the collected database (else its oid).'),
    label('autovacuum', 'boolean', 'Run by autovacuum.'),
    label('phase', 'text', 'Current phase.'),
    gauge('heap_blks_total', 'bigint', 'Heap blocks of the table.', 'blocks'),
    gauge('heap_blks_scanned', 'bigint', 'Heap blocks scanned.', 'blocks'),
    gauge('heap_blks_vacuumed', 'bigint', 'Heap blocks vacuumed.', 'blocks'),
    gauge('index_vacuum_count', 'bigint', 'Index vacuum passes done.'),
    gauge('running_seconds', 'double precision', 'Time since it started.', 'seconds'),
    gauge(
      'max_dead_tuples',
      'bigint',
      'Dead tuples it can hold before an index pass (null from 17: see bytes).',
    ),
    gauge('num_dead_item_ids', 'bigint', 'Dead item identifiers collected since the last index pass.'),
    gauge('max_dead_tuple_bytes', 'bigint', 'Memory it may use for dead tuples (null before 17).', 'bytes'),
    gauge('dead_tuple_bytes', 'bigint', 'Memory used by dead tuples now (null before 17).', 'bytes'),
    gauge('indexes_total', 'bigint', 'Indexes to vacuum or clean up (null before 17).'),
    gauge('indexes_processed', 'bigint', 'Indexes done in the current phase (null before 17).'),
    gauge(
      'delay_time',
      'double precision',
      'Time slept by cost-based delay, with track_cost_delay_timing (null before 18).',
      'ms',
    ),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_progress_vacuum', 'delay_time'),
      source: 'pg_stat_progress_vacuum, pg_stat_activity (PostgreSQL ≥ 18)',
      sql: vacuumProgressSelect(
        'null::bigint as max_dead_tuples, p.num_dead_item_ids, p.max_dead_tuple_bytes, p.dead_tuple_bytes, p.indexes_total, p.indexes_processed, p.delay_time',
      ),
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_progress_vacuum', 'dead_tuple_bytes'),
      source: 'pg_stat_progress_vacuum, pg_stat_activity (PostgreSQL 17)',
      sql: vacuumProgressSelect(
        'null::bigint as max_dead_tuples, p.num_dead_item_ids, p.max_dead_tuple_bytes, p.dead_tuple_bytes, p.indexes_total, p.indexes_processed, null::double precision as delay_time',
      ),
    },
    {
      when: () => true,
      source: 'pg_stat_progress_vacuum, pg_stat_activity (PostgreSQL ≤ 16)',
      sql: vacuumProgressSelect(
        'p.max_dead_tuples, p.num_dead_tuples as num_dead_item_ids, null::bigint as max_dead_tuple_bytes, null::bigint as dead_tuple_bytes, null::bigint as indexes_total, null::bigint as indexes_processed, null::double precision as delay_time',
      ),
    },
  ],
}
