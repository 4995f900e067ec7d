// Database and object groups: per-database activity (pg_stat_database) and, on a slower cadence,
// size; tables and indexes with their I/O and sizes, collected inside each discovered database
// with a bounded cost whatever the number of relations; storage (tablespaces and the WAL directory).
import { counter, gauge, info, key, label, statsReset } from './columns.ts'
import { hasColumn, type MetricGroup } from './types.ts'

const databaseCounters = [
  'xact_commit',
  'xact_rollback',
  'blks_read',
  'blks_hit',
  'tup_returned',
  'tup_fetched',
  'tup_inserted',
  'tup_updated',
  'tup_deleted',
  'conflicts',
  'temp_files',
  'deadlocks',
]
const sessionCounters = ['sessions', 'sessions_abandoned', 'sessions_fatal', 'sessions_killed']
const sessionTimes = ['session_time', 'active_time', 'idle_in_transaction_time']
const conflictCounters = [
  'confl_tablespace',
  'confl_lock',
  'confl_snapshot',
  'confl_bufferpin',
  'confl_deadlock',
]

/** Columns added after the first release, at the end of the row: checksums (12), the logical
 * slot conflict (16), parallel workers (18). */
const databaseTail = (c: { conflictSlot: boolean; parallel: boolean }) =>
  [
    'd.checksum_failures',
    'd.checksum_last_failure',
    c.conflictSlot ? 'c.confl_active_logicalslot' : 'null::bigint as confl_active_logicalslot',
    c.parallel ? 'd.parallel_workers_to_launch' : 'null::bigint as parallel_workers_to_launch',
    c.parallel ? 'd.parallel_workers_launched' : 'null::bigint as parallel_workers_launched',
  ].join(', ')

const databaseSelect = (sessions: string, tail: string) => `
  select d.datname::text, d.numbackends, ${databaseCounters.map((c) => `d.${c}`).join(', ')}, d.temp_bytes,
         d.blk_read_time, d.blk_write_time, ${sessions},
         ${conflictCounters.map((c) => `c.${c}`).join(', ')},
         age(db.datfrozenxid) as xid_age, mxid_age(db.datminmxid) as mxid_age, d.stats_reset, ${tail}
    from pg_stat_database d
    join pg_database db on db.oid = d.datid
    left join pg_stat_database_conflicts c on c.datid = d.datid
   where d.datname is not null`

const blockCounters = new Set(['blks_read', 'blks_hit'])

export const database: MetricGroup = {
  name: 'database',
  scope: 'instance',
  table: 'sn_stat_database',
  help: 'Each database: transactions, block I/O, tuples, temp files, deadlocks, sessions, recovery conflicts and wraparound age (sizes: database_size).',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  columns: [
    key('datname', 'text', 'Database.'),
    gauge('numbackends', 'integer', 'Backends connected now.'),
    ...databaseCounters.map((name) =>
      counter(name, `${name} (pg_stat_database).`, blockCounters.has(name) ? 'blocks' : 'count'),
    ),
    counter('temp_bytes', 'Bytes written to temporary files.', 'bytes'),
    counter('blk_read_time', 'Time reading data blocks (track_io_timing).', 'ms'),
    counter('blk_write_time', 'Time writing data blocks (track_io_timing).', 'ms'),
    ...sessionCounters.map((name) => counter(name, `${name} (null before 14).`)),
    ...sessionTimes.map((name) => counter(name, `${name} (null before 14).`, 'ms')),
    ...conflictCounters.map((name) => counter(name, `Queries cancelled on a standby: ${name}.`)),
    gauge('xid_age', 'integer', 'Age of datfrozenxid: transactions until wraparound protection.'),
    gauge('mxid_age', 'integer', 'Age of datminmxid (multixacts).'),
    statsReset,
    counter('checksum_failures', 'Data page checksum failures (null when data checksums are off).'),
    info('checksum_last_failure', 'timestamptz', 'When the last checksum failure was detected.'),
    counter(
      'confl_active_logicalslot',
      'Queries cancelled on a standby: logical slot conflicts (null before 16).',
    ),
    counter('parallel_workers_to_launch', 'Parallel workers planned (null before 18).'),
    counter('parallel_workers_launched', 'Parallel workers launched (null before 18).'),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_database', 'parallel_workers_launched'),
      source: 'pg_stat_database, pg_stat_database_conflicts, pg_database (PostgreSQL ≥ 18)',
      sql: databaseSelect(
        [...sessionCounters, ...sessionTimes].map((c) => `d.${c}`).join(', '),
        databaseTail({ conflictSlot: true, parallel: true }),
      ),
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_database_conflicts', 'confl_active_logicalslot'),
      source: 'pg_stat_database, pg_stat_database_conflicts, pg_database (PostgreSQL 16–17)',
      sql: databaseSelect(
        [...sessionCounters, ...sessionTimes].map((c) => `d.${c}`).join(', '),
        databaseTail({ conflictSlot: true, parallel: false }),
      ),
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_database', 'sessions'),
      source: 'pg_stat_database, pg_stat_database_conflicts, pg_database (PostgreSQL 14–15)',
      sql: databaseSelect(
        [...sessionCounters, ...sessionTimes].map((c) => `d.${c}`).join(', '),
        databaseTail({ conflictSlot: false, parallel: false }),
      ),
    },
    {
      when: () => true,
      source: 'pg_stat_database, pg_stat_database_conflicts, pg_database (PostgreSQL ≤ 13)',
      sql: databaseSelect(
        [
          ...sessionCounters.map((c) => `null::bigint as ${c}`),
          ...sessionTimes.map((c) => `null::double precision as ${c}`),
        ].join(', '),
        databaseTail({ conflictSlot: false, parallel: false }),
      ),
    },
  ],
}

/** Database sizes walk every file of every database: slow on a large server and slow-changing,
 * so they have their own group and cadence (as pgwatch keeps them at 5 minutes), and a slow walk
 * cannot cost the database counters a round. */
export const databaseSize: MetricGroup = {
  name: 'database_size',
  scope: 'instance',
  table: 'sn_database_size',
  help: 'Size of each database on disk.',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 90,
  privileges:
    'Sizes of databases the login may not CONNECT to need pg_monitor (pg_read_all_stats); without it they are null.',
  columns: [key('datname', 'text', 'Database.'), gauge('bytes', 'bigint', 'Database size on disk.', 'bytes')],
  variants: [
    {
      when: () => true,
      source: 'pg_database, pg_database_size',
      sql: `select datname::text,
                   case when has_database_privilege(oid, 'CONNECT') or pg_has_role('pg_read_all_stats', 'member')
                        then pg_database_size(oid) end as bytes
              from pg_database`,
    },
  ],
}

const tableCounters = [
  'seq_scan',
  'seq_tup_read',
  'idx_scan',
  'idx_tup_fetch',
  'n_tup_ins',
  'n_tup_upd',
  'n_tup_del',
  'n_tup_hot_upd',
  'vacuum_count',
  'autovacuum_count',
  'analyze_count',
  'autoanalyze_count',
]
const tableBlocks = [
  'heap_blks_read',
  'heap_blks_hit',
  'idx_blks_read',
  'idx_blks_hit',
  'toast_blks_read',
  'toast_blks_hit',
]
const tableTimes = ['last_vacuum', 'last_autovacuum', 'last_analyze', 'last_autoanalyze']

const indexCounters = ['idx_scan', 'idx_tup_read', 'idx_tup_fetch']

/** User tables as pg_stat_user_tables has them, without its whole-catalog aggregate. */
const userTables = `c.relkind in ('r', 't', 'm', 'p')
       and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`

/** AccessExclusiveLocks held or awaited in this database: a size function opening such a
 * relation would queue behind them, so its sizes are skipped this round. */
const exclusivelyLocked = `locked as (
    select l.relation from pg_locks l
     where l.locktype = 'relation' and l.mode = 'AccessExclusiveLock'
       and l.database = (select oid from pg_database where datname = current_database()))`

/** The cut ($1 rows) is chosen from catalog and statistics values only, never touching a
 * relation: a table's best rank among five rankings (pages of heap and TOAST, rows read, rows
 * changed, dead rows, age of relfrozenxid) orders it, so the cut takes the top of each ranking in turn. Columns come
 * from the statistics functions behind the pg_stat/pg_statio views (the views aggregate every
 * table's indexes before any limit applies). Sizes, which lock the relations they measure, are
 * read for the kept tables only, and not for a table, its TOAST table or an index of either
 * under an AccessExclusiveLock (sizes_skipped); lock_timeout is the backstop for a lock taken
 * after pg_locks was read. */
const tablesSelect = (insSinceVacuum: string, tail: string) => `
  with stats as (
    select c.oid, c.relpages::bigint + coalesce(t.relpages, 0) as pages,
           pg_stat_get_tuples_returned(c.oid) + pg_stat_get_tuples_fetched(c.oid) as reads,
           pg_stat_get_tuples_inserted(c.oid) + pg_stat_get_tuples_updated(c.oid)
             + pg_stat_get_tuples_deleted(c.oid) as changes,
           pg_stat_get_dead_tuples(c.oid) as dead,
           case when c.relkind <> 'p' then age(c.relfrozenxid) end as frozen
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_class t on t.oid = c.reltoastrelid
     where ${userTables}),
  ranked as (
    select oid, least(row_number() over (order by pages desc),
                      case when reads > 0 then row_number() over (order by reads desc) end,
                      case when changes > 0 then row_number() over (order by changes desc) end,
                      case when dead > 0 then row_number() over (order by dead desc) end,
                      case when frozen is not null then row_number() over (order by frozen desc nulls last) end)
             as best
      from stats
     order by best, oid
     limit $1),
  ${exclusivelyLocked}
  select current_database()::text as datname, n.nspname::text as schemaname, c.relname::text,
         pg_stat_get_numscans(c.oid) as seq_scan, pg_stat_get_tuples_returned(c.oid) as seq_tup_read,
         i.idx_scan, i.idx_tup_fetch + pg_stat_get_tuples_fetched(c.oid) as idx_tup_fetch,
         pg_stat_get_tuples_inserted(c.oid) as n_tup_ins, pg_stat_get_tuples_updated(c.oid) as n_tup_upd,
         pg_stat_get_tuples_deleted(c.oid) as n_tup_del, pg_stat_get_tuples_hot_updated(c.oid) as n_tup_hot_upd,
         pg_stat_get_vacuum_count(c.oid) as vacuum_count, pg_stat_get_autovacuum_count(c.oid) as autovacuum_count,
         pg_stat_get_analyze_count(c.oid) as analyze_count,
         pg_stat_get_autoanalyze_count(c.oid) as autoanalyze_count,
         pg_stat_get_live_tuples(c.oid) as n_live_tup, pg_stat_get_dead_tuples(c.oid) as n_dead_tup,
         pg_stat_get_mod_since_analyze(c.oid) as n_mod_since_analyze, ${insSinceVacuum},
         pg_stat_get_last_vacuum_time(c.oid) as last_vacuum,
         pg_stat_get_last_autovacuum_time(c.oid) as last_autovacuum,
         pg_stat_get_last_analyze_time(c.oid) as last_analyze,
         pg_stat_get_last_autoanalyze_time(c.oid) as last_autoanalyze,
         pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid) as heap_blks_read,
         pg_stat_get_blocks_hit(c.oid) as heap_blks_hit, i.idx_blks_read, i.idx_blks_hit,
         pg_stat_get_blocks_fetched(t.oid) - pg_stat_get_blocks_hit(t.oid) as toast_blks_read,
         pg_stat_get_blocks_hit(t.oid) as toast_blks_hit,
         case when not k.skipped then pg_total_relation_size(c.oid) end as total_bytes,
         case when not k.skipped then pg_relation_size(c.oid) end as table_bytes,
         case when not k.skipped then pg_indexes_size(c.oid) end as indexes_bytes,
         case when not k.skipped then coalesce(pg_total_relation_size(t.oid), 0) end as toast_bytes,
         age(c.relfrozenxid) as frozenxid_age, k.skipped as sizes_skipped, ${tail}
    from ranked r
    join pg_class c on c.oid = r.oid
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_class t on t.oid = c.reltoastrelid
    cross join lateral (
      select sum(pg_stat_get_numscans(x.indexrelid))::bigint as idx_scan,
             sum(pg_stat_get_tuples_fetched(x.indexrelid))::bigint as idx_tup_fetch,
             sum(pg_stat_get_blocks_fetched(x.indexrelid) - pg_stat_get_blocks_hit(x.indexrelid))::bigint
               as idx_blks_read,
             sum(pg_stat_get_blocks_hit(x.indexrelid))::bigint as idx_blks_hit
        from pg_index x where x.indrelid = c.oid) i
    cross join lateral (
      select exists (
        select 1 from locked l
         where l.relation in (c.oid, c.reltoastrelid)
            or l.relation in (select x.indexrelid from pg_index x where x.indrelid in (c.oid, c.reltoastrelid)))
        as skipped) k
   order by r.best, r.oid`

/** Columns added after the first release, at the end of the row (from the functions behind
 * pg_stat_user_tables): last scans and new-page updates (16), time vacuuming and analyzing (18). */
const tableMaintenanceTimes = [
  'total_vacuum_time',
  'total_autovacuum_time',
  'total_analyze_time',
  'total_autoanalyze_time',
]
const tablesTail = (c: { scans: boolean; times: boolean }) =>
  [
    c.scans ? 'pg_stat_get_lastscan(c.oid) as last_seq_scan' : 'null::timestamptz as last_seq_scan',
    c.scans
      ? '(select max(pg_stat_get_lastscan(x.indexrelid)) from pg_index x where x.indrelid = c.oid) as last_idx_scan'
      : 'null::timestamptz as last_idx_scan',
    c.scans
      ? 'pg_stat_get_tuples_newpage_updated(c.oid) as n_tup_newpage_upd'
      : 'null::bigint as n_tup_newpage_upd',
    ...tableMaintenanceTimes.map((n) =>
      c.times ? `pg_stat_get_${n}(c.oid) as ${n}` : `null::double precision as ${n}`,
    ),
  ].join(', ')

const sizesSkipped = gauge(
  'sizes_skipped',
  'boolean',
  'Sizes not read this round: the relation was under an AccessExclusiveLock (ALTER, VACUUM FULL, REINDEX, ...).',
)

export const tables: MetricGroup = {
  name: 'tables',
  scope: 'database',
  table: 'sn_stat_tables',
  help: 'User tables of each database: scans, tuple changes, live and dead tuples, vacuum and analyze, block I/O and sizes. Above the row limit, the tables ranked highest by size (pages), rows read, rows changed, dead rows or transaction ID age, in turn.',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 30,
  rowLimit: 1000,
  privileges: 'None beyond connecting to each database (CONNECT).',
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema.'),
    key('relname', 'text', 'Table.'),
    ...tableCounters.map((name) => counter(name, `${name} (pg_stat_user_tables).`)),
    gauge('n_live_tup', 'bigint', 'Estimated live rows.'),
    gauge('n_dead_tup', 'bigint', 'Estimated dead rows.'),
    gauge('n_mod_since_analyze', 'bigint', 'Rows changed since the last analyze.'),
    gauge('n_ins_since_vacuum', 'bigint', 'Rows inserted since the last vacuum (null before 13).'),
    ...tableTimes.map((name) => info(name, 'timestamptz', `${name.replaceAll('_', ' ')}.`)),
    ...tableBlocks.map((name) => counter(name, `${name} (pg_statio_user_tables).`, 'blocks')),
    gauge('total_bytes', 'bigint', 'Table with indexes and TOAST (null when sizes_skipped).', 'bytes'),
    gauge('table_bytes', 'bigint', 'Main fork (null when sizes_skipped).', 'bytes'),
    gauge('indexes_bytes', 'bigint', 'All indexes (null when sizes_skipped).', 'bytes'),
    gauge('toast_bytes', 'bigint', 'TOAST table and its index (null when sizes_skipped).', 'bytes'),
    gauge('frozenxid_age', 'integer', 'Age of relfrozenxid.'),
    sizesSkipped,
    info('last_seq_scan', 'timestamptz', 'Last sequential scan (null before 16).'),
    info('last_idx_scan', 'timestamptz', 'Last index scan (null before 16).'),
    counter('n_tup_newpage_upd', 'Updates that moved the row to a new heap page (null before 16).'),
    ...tableMaintenanceTimes.map((name) =>
      counter(name, `Time spent in ${name.slice(6, -5)} of this table (null before 18).`, 'ms'),
    ),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_user_tables', 'total_vacuum_time'),
      source: 'pg_class, pg_index, pg_locks, statistics functions, size functions (PostgreSQL ≥ 18)',
      sql: tablesSelect(
        'pg_stat_get_ins_since_vacuum(c.oid) as n_ins_since_vacuum',
        tablesTail({ scans: true, times: true }),
      ),
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_user_tables', 'last_seq_scan'),
      source: 'pg_class, pg_index, pg_locks, statistics functions, size functions (PostgreSQL 16–17)',
      sql: tablesSelect(
        'pg_stat_get_ins_since_vacuum(c.oid) as n_ins_since_vacuum',
        tablesTail({ scans: true, times: false }),
      ),
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_user_tables', 'n_ins_since_vacuum'),
      source: 'pg_class, pg_index, pg_locks, statistics functions, size functions (PostgreSQL 13–15)',
      sql: tablesSelect(
        'pg_stat_get_ins_since_vacuum(c.oid) as n_ins_since_vacuum',
        tablesTail({ scans: false, times: false }),
      ),
    },
    {
      when: () => true,
      source: 'pg_class, pg_index, pg_locks, statistics functions, size functions (PostgreSQL ≤ 12)',
      sql: tablesSelect('null::bigint as n_ins_since_vacuum', tablesTail({ scans: false, times: false })),
    },
  ],
}

/** Ranked like tables (best of: pages, scans), from pg_index and the catalog; sizes for the
 * kept indexes only, skipped for an index under an AccessExclusiveLock. Unused: never scanned
 * and not enforcing a constraint. */
const indexesSelect = (lastScan: string) => `
  with ranked as (
    -- One pass over pg_class: an index lives in its table's schema, and relkind 'i' is an index
    -- with storage (a table's or a materialized view's; a partitioned table's is 'I').
    select ic.oid,
           least(row_number() over (order by ic.relpages desc),
                 case when pg_stat_get_numscans(ic.oid) > 0
                      then row_number() over (order by pg_stat_get_numscans(ic.oid) desc) end) as best
      from pg_class ic
      join pg_namespace n on n.oid = ic.relnamespace
     where ic.relkind = 'i'
       and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
     order by best, oid
     limit $1),
  ${exclusivelyLocked}
  select current_database()::text as datname, n.nspname::text as schemaname, c.relname::text,
         ic.relname::text as indexrelname, pg_stat_get_numscans(r.oid) as idx_scan,
         pg_stat_get_tuples_returned(r.oid) as idx_tup_read, pg_stat_get_tuples_fetched(r.oid) as idx_tup_fetch,
         pg_stat_get_blocks_fetched(r.oid) - pg_stat_get_blocks_hit(r.oid) as idx_blks_read,
         pg_stat_get_blocks_hit(r.oid) as idx_blks_hit,
         case when not k.skipped then pg_relation_size(r.oid) end as size_bytes,
         x.indisunique as is_unique, x.indisprimary as is_primary,
         (pg_stat_get_numscans(r.oid) = 0 and not x.indisunique and not x.indisprimary
          and not exists (select 1 from pg_constraint k where k.conindid = r.oid)) as unused,
         ${lastScan}, k.skipped as sizes_skipped
    from ranked r
    join pg_index x on x.indexrelid = r.oid
    join pg_class ic on ic.oid = r.oid
    join pg_class c on c.oid = x.indrelid
    join pg_namespace n on n.oid = c.relnamespace
    cross join lateral (select exists (select 1 from locked l where l.relation = r.oid) as skipped) k
   order by r.best, r.oid`

export const indexes: MetricGroup = {
  name: 'indexes',
  scope: 'database',
  table: 'sn_stat_indexes',
  help: 'User indexes of each database: scans, tuples, block I/O, size, and an unused flag. Above the row limit, the indexes ranked highest by size (pages) or scans, in turn.',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 30,
  rowLimit: 2000,
  privileges: 'None beyond connecting to each database (CONNECT).',
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema.'),
    key('relname', 'text', 'Table of the index.'),
    key('indexrelname', 'text', 'Index.'),
    ...indexCounters.map((name) => counter(name, `${name} (pg_stat_user_indexes).`)),
    counter('idx_blks_read', 'Index blocks read.', 'blocks'),
    counter('idx_blks_hit', 'Index blocks found in shared buffers.', 'blocks'),
    gauge('size_bytes', 'bigint', 'Index size (null when sizes_skipped).', 'bytes'),
    label('is_unique', 'boolean', 'Unique index.'),
    label('is_primary', 'boolean', 'Primary key index.'),
    gauge(
      'unused',
      'boolean',
      'Never scanned since the last reset and enforcing no constraint: a drop candidate.',
    ),
    info('last_idx_scan', 'timestamptz', 'Last scan (null before 16).'),
    sizesSkipped,
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_user_indexes', 'last_idx_scan'),
      source: 'pg_index, pg_class, pg_locks, statistics functions, pg_relation_size (PostgreSQL ≥ 16)',
      sql: indexesSelect('pg_stat_get_lastscan(r.oid) as last_idx_scan'),
    },
    {
      when: () => true,
      source: 'pg_index, pg_class, pg_locks, statistics functions, pg_relation_size (PostgreSQL ≤ 15)',
      sql: indexesSelect('null::timestamptz as last_idx_scan'),
    },
  ],
}

export const storage: MetricGroup = {
  name: 'storage',
  scope: 'instance',
  table: 'sn_storage',
  help: 'Disk used by each tablespace and by the WAL directory (size and segment count).',
  defaultIntervalSeconds: 900,
  defaultRetentionDays: 90,
  privileges: 'Needs pg_monitor (pg_ls_waldir, and pg_tablespace_size on tablespaces without CREATE).',
  unavailable: (c) =>
    c.superuser || c.pgMonitor
      ? null
      : 'needs pg_monitor: pg_ls_waldir() and pg_tablespace_size() are not granted to this login',
  columns: [
    key('kind', 'text', 'tablespace or wal_directory.'),
    key('name', 'text', 'Tablespace name, or pg_wal.'),
    label('location', 'text', 'Directory of a tablespace outside the data directory.'),
    gauge('size_bytes', 'bigint', 'Bytes used.', 'bytes'),
    gauge(
      'files',
      'bigint',
      'WAL segments in pg_wal, not history, backup or partial files (null for tablespaces).',
    ),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_tablespace, pg_tablespace_size, pg_ls_waldir',
      sql: `select 'tablespace' as kind, spcname::text as name, nullif(pg_tablespace_location(oid), '') as location,
                   pg_tablespace_size(oid) as size_bytes, null::bigint as files
              from pg_tablespace
            union all
            select 'wal_directory', 'pg_wal', null, sum(size)::bigint,
                   count(*) filter (where name ~ '^[0-9A-F]{24}$') from pg_ls_waldir()`,
    },
  ],
}
