// Index hygiene, per database: indexes that cost writes and space for nothing. Invalid ones (a
// failed CREATE INDEX CONCURRENTLY leaves one behind, still maintained on every write), exact
// duplicates of another index, and indexes never scanned since the statistics were reset that
// enforce no constraint. Sizes come from relpages, not the size functions, so an index under an
// exclusive lock (REINDEX, VACUUM FULL) cannot stall the query.
import { gauge, key, label } from './columns.ts'
import type { MetricGroup } from './types.ts'

export const indexHygiene: MetricGroup = {
  name: 'index_hygiene',
  scope: 'database',
  table: 'sn_index_hygiene',
  help: 'Indexes of each database that are invalid, duplicate another index, or were never scanned since the statistics reset and enforce no constraint, with their size (largest first).',
  defaultIntervalSeconds: 3600,
  defaultRetentionDays: 30,
  rowLimit: 200,
  privileges: 'None beyond connecting to each database (CONNECT).',
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema.'),
    key('relname', 'text', 'Table of the index.'),
    key('indexrelname', 'text', 'Index.'),
    key('problem', 'text', 'invalid, duplicate or unused.'),
    label(
      'duplicate_of',
      'text',
      'For a duplicate: the index it repeats (same columns, operator classes, predicate).',
    ),
    gauge('size_bytes', 'bigint', 'Size at the last vacuum or analyze (relpages × block size).', 'bytes'),
    gauge('idx_scan', 'bigint', 'Scans since the statistics reset.'),
    gauge(
      'stats_age_seconds',
      'double precision',
      'Time since the database’s statistics were reset (null: never reset), the window “unused” covers.',
      'seconds',
    ),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_index, pg_class, pg_stat_user_indexes, pg_constraint, pg_stat_database',
      sql: `with idx as (
              select i.indexrelid, i.indrelid, i.indisvalid, i.indisunique, i.indisprimary, n.nspname::text as schemaname,
                     t.relname::text as relname, c.relname::text as indexrelname,
                     c.relpages::bigint * current_setting('block_size')::bigint as size_bytes, s.idx_scan,
                     (i.indrelid, i.indkey::text, i.indclass::text, i.indcollation::text,
                      coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                      coalesce(pg_get_expr(i.indpred, i.indrelid), '')) as shape
                from pg_index i
                join pg_class c on c.oid = i.indexrelid
                join pg_class t on t.oid = i.indrelid
                join pg_namespace n on n.oid = c.relnamespace
                left join pg_stat_user_indexes s on s.indexrelid = i.indexrelid
               where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
                 and not pg_is_other_temp_schema(n.oid)
            ),
            problems as (
              select x.*, 'invalid' as problem, null::text as duplicate_of from idx x where not x.indisvalid
              union all
              -- Of identical indexes one is kept (one backing a unique or primary key first, then the
              -- oldest); the others are its duplicates. A window over the shape, not a lateral
              -- search per index: that was quadratic and timed out at 10,000 indexes.
              select r.indexrelid, r.indrelid, r.indisvalid, r.indisunique, r.indisprimary, r.schemaname,
                     r.relname, r.indexrelname, r.size_bytes, r.idx_scan, r.shape, 'duplicate', r.kept
                from (select x.*,
                             row_number() over same_shape as place,
                             first_value(x.indexrelname) over same_shape as kept
                        from idx x
                       where x.indisvalid
                      window same_shape as (partition by x.shape
                                            order by not (x.indisunique or x.indisprimary), x.indexrelid)) r
               where r.place > 1
              union all
              select x.*, 'unused', null from idx x
               where x.indisvalid and x.idx_scan = 0 and not x.indisunique and not x.indisprimary
                 and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)
            )
            select current_database()::text as datname, schemaname, relname, indexrelname, problem, duplicate_of,
                   size_bytes, idx_scan,
                   (select extract(epoch from now() - d.stats_reset)::double precision from pg_stat_database d
                     where d.datname = current_database()) as stats_age_seconds
              from problems
             order by size_bytes desc, indexrelname, problem
             limit $1`,
    },
  ],
}
