// Database and object groups: per-database activity and size (pg_stat_database); tables and
// indexes with their I/O and sizes, collected inside each discovered database; storage
// (tablespaces and the WAL directory).
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
         case when has_database_privilege(d.datid, 'CONNECT') or pg_has_role('pg_read_all_stats', 'member')
              then pg_database_size(d.datid) end as size_bytes,
         age(db.datfrozenxid) as xid_age, mxid_age(db.datminmxid) as mxid_age, d.stats_reset, ${tail}
    from pg_stat_database d
    join pg_database db on db.oid = d.datid
    left join pg_stat_database_conflicts c on c.datid = d.datid
   where d.datname is not null`

export const database: MetricGroup = {
  name: 'database',
  scope: 'instance',
  table: 'sn_stat_database',
  help: 'Each database: transactions, block I/O, tuples, temp files, deadlocks, sessions, recovery conflicts, size and wraparound age.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges:
    'Sizes of databases the login may not CONNECT to need pg_monitor (pg_read_all_stats); without it they are null.',
  columns: [
    key('datname', 'text', 'Database.'),
    gauge('numbackends', 'integer', 'Backends connected now.'),
    ...databaseCounters.map((name) => counter(name, `${name} (pg_stat_database).`)),
    counter('temp_bytes', 'Bytes written to temporary files.', 'bytes'),
    counter('blk_read_time', 'Time reading data blocks (track_io_timing).', 'ms'),
    counter('blk_write_time', 'Time writing data blocks (track_io_timing).', 'ms'),
    ...sessionCounters.map((name) => counter(name, `${name} (null before 14).`)),
    ...sessionTimes.map((name) => counter(name, `${name} (null before 14).`, 'ms')),
    ...conflictCounters.map((name) => counter(name, `Queries cancelled on a standby: ${name}.`)),
    gauge('size_bytes', 'bigint', 'Database size.', 'bytes'),
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

/** Columns added after the first release, at the end of the row: last scans and new-page
 * updates (16), time spent vacuuming and analyzing (18). */
const tableScans = ['last_seq_scan', 'last_idx_scan']
const tableMaintenanceTimes = [
  'total_vacuum_time',
  'total_autovacuum_time',
  'total_analyze_time',
  'total_autoanalyze_time',
]
const tablesTail = (c: { scans: boolean; times: boolean }) =>
  [
    ...tableScans.map((n) => (c.scans ? `s.${n}` : `null::timestamptz as ${n}`)),
    c.scans ? 's.n_tup_newpage_upd' : 'null::bigint as n_tup_newpage_upd',
    ...tableMaintenanceTimes.map((n) => (c.times ? `s.${n}` : `null::double precision as ${n}`)),
  ].join(', ')

/** Largest tables first, capped by $1. */
const tablesSelect = (insSinceVacuum: string, tail: string) => `
  select current_database()::text as datname, s.schemaname::text, s.relname::text,
         ${tableCounters.map((c) => `s.${c}`).join(', ')},
         s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, ${insSinceVacuum},
         ${tableTimes.map((c) => `s.${c}`).join(', ')}, ${tableBlocks.map((c) => `io.${c}`).join(', ')},
         pg_total_relation_size(s.relid) as total_bytes, pg_relation_size(s.relid) as table_bytes,
         pg_indexes_size(s.relid) as indexes_bytes,
         coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) as toast_bytes,
         age(c.relfrozenxid) as frozenxid_age, ${tail}
    from pg_stat_user_tables s
    join pg_statio_user_tables io on io.relid = s.relid
    join pg_class c on c.oid = s.relid
   order by pg_total_relation_size(s.relid) desc
   limit $1`

export const tables: MetricGroup = {
  name: 'tables',
  scope: 'database',
  table: 'sn_stat_tables',
  help: 'User tables of each database: scans, tuple changes, live and dead tuples, vacuum and analyze, block I/O and sizes (largest first).',
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
    gauge('total_bytes', 'bigint', 'Table with indexes and TOAST.', 'bytes'),
    gauge('table_bytes', 'bigint', 'Main fork.', 'bytes'),
    gauge('indexes_bytes', 'bigint', 'All indexes.', 'bytes'),
    gauge('toast_bytes', 'bigint', 'TOAST table and its index.', 'bytes'),
    gauge('frozenxid_age', 'integer', 'Age of relfrozenxid.'),
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
      source: 'pg_stat_user_tables, pg_statio_user_tables, pg_class, size functions (PostgreSQL ≥ 18)',
      sql: tablesSelect('s.n_ins_since_vacuum', tablesTail({ scans: true, times: true })),
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_user_tables', 'last_seq_scan'),
      source: 'pg_stat_user_tables, pg_statio_user_tables, pg_class, size functions (PostgreSQL 16–17)',
      sql: tablesSelect('s.n_ins_since_vacuum', tablesTail({ scans: true, times: false })),
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_user_tables', 'n_ins_since_vacuum'),
      source: 'pg_stat_user_tables, pg_statio_user_tables, pg_class, size functions (PostgreSQL 13–15)',
      sql: tablesSelect('s.n_ins_since_vacuum', tablesTail({ scans: false, times: false })),
    },
    {
      when: () => true,
      source: 'pg_stat_user_tables, pg_statio_user_tables, pg_class, size functions (PostgreSQL ≤ 12)',
      sql: tablesSelect('null::bigint as n_ins_since_vacuum', tablesTail({ scans: false, times: false })),
    },
  ],
}

const indexCounters = ['idx_scan', 'idx_tup_read', 'idx_tup_fetch']

/** Largest indexes first, capped by $1. Unused: never scanned and not enforcing a constraint.
 * Block counts come from the functions behind pg_statio_user_indexes: joining the view itself
 * made planning cost ten times the execution. */
const indexesSelect = (lastScan: string) => `
  select current_database()::text as datname, s.schemaname::text, s.relname::text, s.indexrelname::text,
         ${indexCounters.map((c) => `s.${c}`).join(', ')},
         pg_stat_get_blocks_fetched(s.indexrelid) - pg_stat_get_blocks_hit(s.indexrelid) as idx_blks_read,
         pg_stat_get_blocks_hit(s.indexrelid) as idx_blks_hit,
         pg_relation_size(s.indexrelid) as size_bytes, i.indisunique as is_unique, i.indisprimary as is_primary,
         (s.idx_scan = 0 and not i.indisunique and not i.indisprimary
          and not exists (select 1 from pg_constraint k where k.conindid = s.indexrelid)) as unused,
         ${lastScan}
    from pg_stat_user_indexes s
    join pg_index i on i.indexrelid = s.indexrelid
   order by pg_relation_size(s.indexrelid) desc
   limit $1`

export const indexes: MetricGroup = {
  name: 'indexes',
  scope: 'database',
  table: 'sn_stat_indexes',
  help: 'User indexes of each database: scans, tuples, block I/O, size, and an unused flag (largest first).',
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
    gauge('size_bytes', 'bigint', 'Index size.', 'bytes'),
    label('is_unique', 'boolean', 'Unique index.'),
    label('is_primary', 'boolean', 'Primary key index.'),
    gauge(
      'unused',
      'boolean',
      'Never scanned since the last reset and enforcing no constraint: a drop candidate.',
    ),
    info('last_idx_scan', 'timestamptz', 'Last scan (null before 16).'),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_user_indexes', 'last_idx_scan'),
      source: 'pg_stat_user_indexes, pg_stat_get_blocks_*, pg_index (PostgreSQL ≥ 16)',
      sql: indexesSelect('s.last_idx_scan'),
    },
    {
      when: () => true,
      source: 'pg_stat_user_indexes, pg_stat_get_blocks_*, pg_index (PostgreSQL ≤ 15)',
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
    gauge('files', 'bigint', 'WAL segments in pg_wal (null for tablespaces).'),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_tablespace, pg_tablespace_size, pg_ls_waldir',
      sql: `select 'tablespace' as kind, spcname::text as name, nullif(pg_tablespace_location(oid), '') as location,
                   pg_tablespace_size(oid) as size_bytes, null::bigint as files
              from pg_tablespace
            union all
            select 'wal_directory', 'pg_wal', null, sum(size)::bigint, count(*) from pg_ls_waldir()`,
    },
  ],
}
