// Shared buffers, read through the pg_buffercache extension in the connected database: the pool
// as a whole (pg_buffercache_summary from 16, which takes no buffer header locks, else one pass
// over pg_buffercache) and, opt-in because it walks every buffer, what the pool holds per
// database and for the relations holding most of it.
import { gauge, key } from './columns.ts'
import type { MetricGroup } from './types.ts'

const poolSize = `(select setting::bigint from pg_settings where name = 'shared_buffers')`
const notInstalled = (c: { extensions: Record<string, string> }) =>
  c.extensions.pg_buffercache
    ? null
    : 'the pg_buffercache extension is not installed in the connected database (CREATE EXTENSION pg_buffercache)'
const atLeast = (version: string | undefined, wanted: number) => Number.parseFloat(version ?? '0') >= wanted
const bufferPrivileges = 'pg_buffercache is granted to pg_monitor from extension version 1.3 (PostgreSQL 13).'

export const bufferPool: MetricGroup = {
  name: 'buffer_pool',
  scope: 'instance',
  table: 'sn_buffer_pool',
  help: 'The shared buffer pool (extension pg_buffercache): buffers used, unused, dirty and pinned, and their average usage count.',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 30,
  privileges: bufferPrivileges,
  unavailable: notInstalled,
  columns: [
    gauge('pool_buffers', 'bigint', 'Buffers in the pool (shared_buffers).', 'blocks'),
    gauge('buffers_used', 'bigint', 'Buffers holding a page.', 'blocks'),
    gauge('buffers_unused', 'bigint', 'Free buffers.', 'blocks'),
    gauge('buffers_dirty', 'bigint', 'Buffers modified and not yet written.', 'blocks'),
    gauge('buffers_pinned', 'bigint', 'Buffers pinned by a backend.', 'blocks'),
    gauge('usagecount_avg', 'double precision', 'Average usage count of the used buffers (0–5).'),
  ],
  variants: [
    {
      when: (c) => atLeast(c.extensions.pg_buffercache, 1.4),
      source: 'pg_buffercache_summary (pg_buffercache ≥ 1.4, PostgreSQL ≥ 16)',
      sql: `select ${poolSize} as pool_buffers, s.buffers_used::bigint, s.buffers_unused::bigint,
                   s.buffers_dirty::bigint, s.buffers_pinned::bigint, s.usagecount_avg
              from {{schema:pg_buffercache}}.pg_buffercache_summary() s`,
    },
    {
      when: () => true,
      source: 'pg_buffercache (one pass over the pool, PostgreSQL ≤ 15)',
      sql: `select ${poolSize} as pool_buffers, count(b.relfilenode) as buffers_used,
                   count(*) - count(b.relfilenode) as buffers_unused,
                   count(*) filter (where b.isdirty) as buffers_dirty,
                   count(*) filter (where b.pinning_backends > 0) as buffers_pinned,
                   avg(b.usagecount) filter (where b.relfilenode is not null)::double precision as usagecount_avg
              from {{schema:pg_buffercache}}.pg_buffercache b`,
    },
  ],
}

/** One pass over the pool grouped by relation file; the $1 relations holding most buffers are
 * kept, with one total row per database. Relations of the connected database and shared
 * catalogs are named (pg_filenode_relation); those of other databases by their file node. */
const bufferUsageSql = `
  with buffers as (
    select b.reldatabase, b.reltablespace, b.relfilenode, count(*) as buffers,
           count(*) filter (where b.isdirty) as dirty, sum(b.usagecount) as usage
      from {{schema:pg_buffercache}}.pg_buffercache b
     where b.relfilenode is not null
     group by 1, 2, 3),
  pool as (select ${poolSize} as total),
  here as (select oid from pg_database where datname = current_database()),
  top as (select * from buffers order by buffers desc, reldatabase, relfilenode limit $1),
  named as (
    select t.*, case when t.reldatabase in (0, (select oid from here))
                     then pg_filenode_relation(t.reltablespace, t.relfilenode) end as relid
      from top t)
  select d.datname::text, null::text as relation, sum(b.buffers)::bigint as buffers,
         (sum(b.buffers) * current_setting('block_size')::bigint)::bigint as bytes, sum(b.dirty)::bigint as dirty_buffers,
         (sum(b.usage) / sum(b.buffers))::double precision as usagecount_avg,
         (sum(b.buffers) / (select total from pool))::double precision as pool_fraction,
         null::double precision as relation_fraction
    from buffers b left join pg_database d on d.oid = b.reldatabase
   group by d.datname
  union all
  select d.datname::text, coalesce(n.relid::regclass::text, 'filenode ' || n.relfilenode) as relation,
         n.buffers, n.buffers * current_setting('block_size')::bigint as bytes, n.dirty as dirty_buffers,
         (n.usage::numeric / n.buffers)::double precision as usagecount_avg,
         (n.buffers::numeric / (select total from pool))::double precision as pool_fraction,
         (select (n.buffers::numeric / nullif(c.relpages, 0))::double precision from pg_class c where c.oid = n.relid)
           as relation_fraction
    from named n left join pg_database d on d.oid = n.reldatabase`

export const bufferUsage: MetricGroup = {
  name: 'buffer_usage',
  scope: 'instance',
  table: 'sn_buffer_usage',
  help: 'What the shared buffers hold (extension pg_buffercache): one row per database (relation null; null datname: shared catalogs) and the relations holding most buffers.',
  defaultIntervalSeconds: 900,
  defaultRetentionDays: 14,
  rowLimit: 50,
  privileges: bufferPrivileges,
  unavailable: notInstalled,
  columns: [
    key('datname', 'text', 'Database of the buffers (null: shared catalogs).'),
    key(
      'relation',
      'text',
      'Relation (null: the database’s total); named in the connected database and for shared catalogs, elsewhere “filenode N”.',
    ),
    gauge('buffers', 'bigint', 'Buffers held.', 'blocks'),
    gauge('bytes', 'bigint', 'Bytes held (buffers × block size).', 'bytes'),
    gauge('dirty_buffers', 'bigint', 'Buffers modified and not yet written.', 'blocks'),
    gauge('usagecount_avg', 'double precision', 'Average usage count (0–5).'),
    gauge('pool_fraction', 'double precision', 'Share of shared_buffers (0–1).'),
    gauge(
      'relation_fraction',
      'double precision',
      'Buffers / the relation’s pages at its last vacuum or analyze (named relations; above 1 when it grew since).',
    ),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_buffercache, pg_filenode_relation (extension pg_buffercache)',
      sql: bufferUsageSql,
    },
  ],
}
