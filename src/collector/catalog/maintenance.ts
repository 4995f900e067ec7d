// Maintenance running now other than vacuum (vacuum_progress has its own group): CREATE INDEX
// and REINDEX, CLUSTER and VACUUM FULL, ANALYZE, base backups and COPY, from their
// pg_stat_progress_* views, mapped onto one set of columns (blocks, tuples, bytes: total and done).
import { gauge, key, label } from './columns.ts'
import { hasView, type MetricGroup } from './types.ts'

const relationOf = (relid: string) =>
  `case when p.datname = current_database() then ${relid}::regclass::text else ${relid}::text end`
const runningSeconds = 'extract(epoch from now() - a.query_start)::double precision'

/** One select per view, each returning the group's columns. */
const parts = {
  createIndex: `select p.pid, p.command, p.datname::text, ${relationOf('p.relid')} as relation, p.phase,
                       p.blocks_total, p.blocks_done, p.tuples_total, p.tuples_done, null::bigint as bytes_total,
                       null::bigint as bytes_done, ${runningSeconds} as running_seconds
                  from pg_stat_progress_create_index p left join pg_stat_activity a on a.pid = p.pid`,
  cluster: `select p.pid, p.command, p.datname::text, ${relationOf('p.relid')}, p.phase, p.heap_blks_total,
                   p.heap_blks_scanned, null::bigint, p.heap_tuples_scanned, null::bigint, null::bigint,
                   ${runningSeconds}
              from pg_stat_progress_cluster p left join pg_stat_activity a on a.pid = p.pid`,
  analyze: `select p.pid, 'ANALYZE', p.datname::text, ${relationOf('p.relid')}, p.phase, p.sample_blks_total,
                   p.sample_blks_scanned, null::bigint, null::bigint, null::bigint, null::bigint, ${runningSeconds}
              from pg_stat_progress_analyze p left join pg_stat_activity a on a.pid = p.pid`,
  basebackup: `select p.pid, 'BASE_BACKUP', null::text, null::text, p.phase, null::bigint, null::bigint,
                      null::bigint, null::bigint, p.backup_total, p.backup_streamed, ${runningSeconds}
                 from pg_stat_progress_basebackup p left join pg_stat_activity a on a.pid = p.pid`,
  copy: `select p.pid, p.command || ' (' || p.type || ')', p.datname::text, ${relationOf('p.relid')}, null::text,
                null::bigint, null::bigint, null::bigint, p.tuples_processed, p.bytes_total, p.bytes_processed,
                ${runningSeconds}
           from pg_stat_progress_copy p left join pg_stat_activity a on a.pid = p.pid`,
}

const progressSelect = (views: (keyof typeof parts)[]) =>
  views.map((v) => parts[v]).join('\n            union all\n            ')

export const maintenanceProgress: MetricGroup = {
  name: 'maintenance_progress',
  scope: 'instance',
  table: 'sn_maintenance_progress',
  help: 'Maintenance running now besides vacuum: CREATE INDEX and REINDEX, CLUSTER and VACUUM FULL, ANALYZE, base backups, COPY (PostgreSQL 13+; COPY from 14): phase and how far along.',
  defaultIntervalSeconds: 30,
  defaultRetentionDays: 7,
  privileges: 'Without pg_monitor (pg_read_all_stats) only the login’s own commands are visible.',
  unavailable: (c) =>
    hasView(c, 'pg_stat_progress_analyze')
      ? null
      : 'pg_stat_progress_analyze does not exist before PostgreSQL 13',
  columns: [
    key('pid', 'integer', 'Process.'),
    label(
      'command',
      'text',
      'CREATE INDEX [CONCURRENTLY], REINDEX [CONCURRENTLY], CLUSTER, VACUUM FULL, ANALYZE, BASE_BACKUP, COPY FROM/TO (and its source).',
    ),
    label('datname', 'text', 'Database (null for a base backup).'),
    label('relation', 'text', 'Table, when in the collected database (else its oid).'),
    label('phase', 'text', 'Current phase (null for COPY).'),
    gauge('blocks_total', 'bigint', 'Blocks to process in this phase.', 'blocks'),
    gauge('blocks_done', 'bigint', 'Blocks processed.', 'blocks'),
    gauge('tuples_total', 'bigint', 'Tuples to process in this phase (CREATE INDEX).'),
    gauge('tuples_done', 'bigint', 'Tuples processed.'),
    gauge(
      'bytes_total',
      'bigint',
      'Bytes to process: a base backup’s estimate, a COPY FROM file’s size.',
      'bytes',
    ),
    gauge('bytes_done', 'bigint', 'Bytes streamed or processed.', 'bytes'),
    gauge('running_seconds', 'double precision', 'Time since its statement started.', 'seconds'),
  ],
  variants: [
    {
      when: (c) => hasView(c, 'pg_stat_progress_copy'),
      source:
        'pg_stat_progress_create_index, _cluster, _analyze, _basebackup, _copy, pg_stat_activity (PostgreSQL ≥ 14)',
      sql: progressSelect(['createIndex', 'cluster', 'analyze', 'basebackup', 'copy']),
    },
    {
      when: () => true,
      source:
        'pg_stat_progress_create_index, _cluster, _analyze, _basebackup, pg_stat_activity (PostgreSQL 13)',
      sql: progressSelect(['createIndex', 'cluster', 'analyze', 'basebackup']),
    },
  ],
}
