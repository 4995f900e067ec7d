// The xmin horizon: what keeps vacuum from removing dead rows and freezing, and how close each
// table is to forced anti-wraparound vacuum. One row per holder of an old xmin or xid (backends,
// standbys through hot_standby_feedback, replication slots, prepared transactions), the oldest
// first; and per database the tables with the oldest relfrozenxid/relminmxid. No counters.
import { gauge, info, key, label } from './columns.ts'
import type { MetricGroup } from './types.ts'

export const xminHorizon: MetricGroup = {
  name: 'xmin_horizon',
  scope: 'instance',
  table: 'sn_xmin_horizon',
  help: 'Who holds the xmin horizon back: backends with a snapshot or transaction id, standbys (hot_standby_feedback), replication slots and prepared transactions, oldest first.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 14,
  rowLimit: 200,
  privileges:
    'Without pg_monitor (pg_read_all_stats) the xmin and xid of other users’ backends and standbys are hidden, so those holders are missing.',
  columns: [
    key('holder_type', 'text', 'backend, standby (a WAL sender’s xmin), slot or prepared_xact.'),
    key(
      'holder',
      'text',
      'Backend pid, standby application_name and pid, slot name or prepared transaction gid.',
    ),
    label('datname', 'text', 'Database (null for physical slots and WAL senders).'),
    label('usename', 'text', 'User (owner of a prepared transaction).'),
    label('application_name', 'text', 'Application of a backend or standby.'),
    label('backend_type', 'text', 'Backend type (client backend, autovacuum worker, walsender, ...).'),
    label('state', 'text', 'Backend state; active or inactive for a slot; null for prepared transactions.'),
    info('held_xmin', 'text', 'The xmin it holds (backend_xmin, slot xmin, prepared transaction id).'),
    gauge('xmin_age', 'integer', 'Transactions since that xmin.'),
    gauge('catalog_xmin_age', 'integer', 'Age of a logical slot’s catalog_xmin (holds back catalog vacuum).'),
    info('held_xid', 'text', 'Transaction id the backend has assigned (backend_xid).'),
    gauge('xid_age', 'integer', 'Transactions since that xid.'),
    gauge(
      'horizon_age',
      'integer',
      'The largest of the ages above: how far this holder holds the horizon back.',
    ),
    gauge(
      'xact_age_seconds',
      'double precision',
      'Age of a backend’s transaction, or time since a transaction was prepared.',
      'seconds',
    ),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_stat_activity, pg_stat_replication, pg_replication_slots, pg_prepared_xacts',
      // WAL senders appear in pg_stat_activity too; they are reported once, as standbys.
      sql: `select h.holder_type, h.holder, h.datname, h.usename, h.application_name, h.backend_type, h.state,
                   h.held_xmin, h.xmin_age, h.catalog_xmin_age, h.held_xid, h.xid_age,
                   greatest(h.xmin_age, h.catalog_xmin_age, h.xid_age) as horizon_age, h.age_seconds as xact_age_seconds
              from (
                select 'backend' as holder_type, a.pid::text as holder, a.datname::text, a.usename::text,
                       a.application_name, a.backend_type, a.state, a.backend_xmin::text as held_xmin,
                       age(a.backend_xmin) as xmin_age, null::integer as catalog_xmin_age, a.backend_xid::text as held_xid,
                       age(a.backend_xid) as xid_age,
                       extract(epoch from now() - a.xact_start)::double precision as age_seconds
                  from pg_stat_activity a
                 where (a.backend_xmin is not null or a.backend_xid is not null)
                   and a.pid <> pg_backend_pid() and a.backend_type <> 'walsender'
                union all
                select 'standby', r.application_name || ' (pid ' || r.pid || ')', null, r.usename::text,
                       r.application_name, 'walsender', r.state, r.backend_xmin::text, age(r.backend_xmin), null,
                       null, null, null
                  from pg_stat_replication r
                 where r.backend_xmin is not null
                union all
                select 'slot', s.slot_name::text, s.database::text, null, null, null,
                       case when s.active then 'active' else 'inactive' end, s.xmin::text, age(s.xmin),
                       age(s.catalog_xmin), null, null, null
                  from pg_replication_slots s
                 where s.xmin is not null or s.catalog_xmin is not null
                union all
                select 'prepared_xact', p.gid, p.database::text, p.owner::text, null, null, null,
                       p.transaction::text, age(p.transaction), null, p.transaction::text, age(p.transaction),
                       extract(epoch from now() - p.prepared)::double precision
                  from pg_prepared_xacts p
              ) h
             order by greatest(h.xmin_age, h.catalog_xmin_age, h.xid_age) desc nulls last, h.holder
             limit $1`,
    },
  ],
}

export const tableAges: MetricGroup = {
  name: 'table_ages',
  scope: 'database',
  table: 'sn_table_ages',
  help: 'Tables of each database closest to forced anti-wraparound vacuum: age of relfrozenxid and relminmxid against the freeze thresholds (oldest first).',
  defaultIntervalSeconds: 900,
  defaultRetentionDays: 30,
  rowLimit: 100,
  privileges: 'None beyond connecting to each database (CONNECT).',
  columns: [
    key('datname', 'text', 'Database.'),
    key('schemaname', 'text', 'Schema (pg_toast for TOAST tables, pg_temp_N for temporary ones).'),
    key('relname', 'text', 'Table, materialized view or TOAST table.'),
    label('relkind', 'text', 'r table, m materialized view, t TOAST table.'),
    label('toast_of', 'text', 'Table a TOAST table belongs to.'),
    label('temporary', 'boolean', 'Temporary table (only its own session can vacuum it).'),
    gauge('frozenxid_age', 'integer', 'Age of relfrozenxid.'),
    gauge('minmxid_age', 'integer', 'Age of relminmxid (multixacts).'),
    gauge(
      'freeze_max_age',
      'bigint',
      'autovacuum_freeze_max_age in force for the table (its storage parameter, else the setting).',
    ),
    gauge(
      'multixact_freeze_max_age',
      'bigint',
      'autovacuum_multixact_freeze_max_age in force for the table.',
    ),
    gauge(
      'pages',
      'bigint',
      'Pages at the last vacuum or analyze (relpages): what a freeze would read.',
      'blocks',
    ),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_class, pg_namespace, age, mxid_age',
      // Ordered by catalog values only: no size function, no lock on any relation.
      sql: `select current_database()::text as datname, n.nspname::text as schemaname, c.relname::text,
                   c.relkind::text, o.relname::text as toast_of, c.relpersistence = 't' as temporary,
                   age(c.relfrozenxid) as frozenxid_age, mxid_age(c.relminmxid) as minmxid_age,
                   coalesce((select option_value::bigint from pg_options_to_table(coalesce(c.reloptions, o.reloptions))
                              where option_name = 'autovacuum_freeze_max_age'),
                            current_setting('autovacuum_freeze_max_age')::bigint) as freeze_max_age,
                   coalesce((select option_value::bigint from pg_options_to_table(coalesce(c.reloptions, o.reloptions))
                              where option_name = 'autovacuum_multixact_freeze_max_age'),
                            current_setting('autovacuum_multixact_freeze_max_age')::bigint)
                     as multixact_freeze_max_age,
                   c.relpages::bigint as pages
              from pg_class c
              join pg_namespace n on n.oid = c.relnamespace
              left join pg_class o on c.relkind = 't' and o.reltoastrelid = c.oid
             where c.relkind in ('r', 'm', 't')
             order by greatest(age(c.relfrozenxid), mxid_age(c.relminmxid)) desc, c.oid
             limit $1`,
    },
  ],
}
