// Fleet overview: every instance at a glance (collected or not, how fresh, load, connections,
// replication lag, host CPU) and the worst alerts firing, from Prometheus.
import { Board, type DashboardDefinition } from '../board.ts'
import { ratedCtes, widenedRange } from '../sql.ts'

const enabled = 'instance_id in (select id from pga_instances where enabled)'

/** Per instance: last collection, TPS from its last two database samples, connections, standbys. */
const instancesTable = `
with last_collection as (
  select distinct on (instance_id) instance_id, taken_at, status, error_code
    from sn_stat_snapshot
   where group_name = 'database' and taken_at > now() - interval '1 day'
   order by instance_id, taken_at desc),
db as (
  select instance_id, datname, taken_at, xact_commit + xact_rollback as xacts, numbackends, stats_reset,
         row_number() over (partition by instance_id, datname order by taken_at desc) as n
    from sn_stat_database
   where taken_at > now() - interval '15 minutes'),
load as (
  select a.instance_id,
         sum(case when b.xacts is null or a.xacts < b.xacts or a.stats_reset is distinct from b.stats_reset then null
                  else (a.xacts - b.xacts) / nullif(extract(epoch from a.taken_at - b.taken_at), 0) end) as tps,
         sum(a.numbackends) as connections
    from db a left join db b on b.instance_id = a.instance_id and b.datname = a.datname and b.n = 2
   where a.n = 1
   group by a.instance_id),
max_connections as (
  select distinct on (instance_id) instance_id, setting::int as max_connections
    from sn_settings_changes where name = 'max_connections'
   order by instance_id, taken_at desc),
last_replication as (
  select distinct on (instance_id) instance_id, snap_id, taken_at from sn_stat_snapshot
   where group_name = 'replication' and status = 'ok' and taken_at > now() - interval '15 minutes'
   order by instance_id, taken_at desc),
replication as (
  select r.instance_id, count(*) as standbys, max(r.replay_lag_bytes) as lag_bytes, max(r.replay_lag_seconds) as lag_seconds
    from sn_stat_replication r join last_replication l on l.snap_id = r.snap_id and l.taken_at = r.taken_at
   group by r.instance_id),
receiver as (
  select distinct on (instance_id) instance_id, replay_delay_seconds
    from sn_stat_wal_receiver where taken_at > now() - interval '15 minutes'
   order by instance_id, taken_at desc),
oldest as (
  select distinct on (instance_id) instance_id, taken_at from sn_stat_snapshot
   where group_name = 'activity' and status = 'ok' and taken_at > now() - interval '15 minutes'
   order by instance_id, taken_at desc),
oldest_xact as (
  select a.instance_id, max(a.max_xact_age_seconds) as seconds
    from sn_stat_activity a join oldest o on o.instance_id = a.instance_id and o.taken_at = a.taken_at
   where a.backend_type = 'client backend'
   group by a.instance_id)
select i.name as instance, i.id::text as id,
       case when c.status is null then 'never collected'
            when c.status <> 'ok' then 'failing: ' || coalesce(c.error_code, c.status)
            when c.taken_at < now() - interval '5 minutes' then 'stale'
            else 'up' end as status,
       extract(epoch from now() - c.taken_at) as "collected (s ago)",
       l.tps as "transactions/s", l.connections as connections, m.max_connections as "max connections",
       l.connections::float8 / nullif(m.max_connections, 0) as "connections used",
       r.standbys as standbys, r.lag_bytes as "standby lag (bytes)",
       greatest(r.lag_seconds, w.replay_delay_seconds) as "replication lag (s)",
       x.seconds as "oldest transaction (s)", i.capabilities ->> 'serverVersion' as version
  from pga_instances i
  left join last_collection c on c.instance_id = i.id
  left join load l on l.instance_id = i.id
  left join max_connections m on m.instance_id = i.id
  left join replication r on r.instance_id = i.id
  left join receiver w on w.instance_id = i.id
  left join oldest_xact x on x.instance_id = i.id
 where i.enabled
 order by (c.status is distinct from 'ok') desc, i.name`

const perInstance = (select: string, from: string) => `
${select}
  from ${from} r join pga_instances i on i.id = r.instance_id
 where r.time >= $__timeFrom()::timestamptz
 group by r.time, i.name order by r.time`

const instancesNow = (board: Board): Board =>
  board
    .stat('Instances monitored', {
      description: 'Monitored instances that are enabled.',
      sql: 'select count(*) as instances from pga_instances where enabled',
    })
    .stat('Not collected', {
      description: 'Enabled instances without a successful database snapshot in the last 5 minutes.',
      sql: `select count(*) as "not collected" from pga_instances i
               where i.enabled and not exists (
                 select 1 from sn_stat_snapshot s where s.instance_id = i.id and s.group_name = 'database'
                    and s.status = 'ok' and s.taken_at > now() - interval '5 minutes')`,
      thresholds: [[1, 'red']],
    })
    .stat('Collections failed', {
      description: 'Group collections that failed in the range (see the table below for why).',
      sql: `select count(*) as failed from sn_stat_snapshot where status = 'failed' and $__timeFilter(taken_at)`,
      thresholds: [[1, 'orange']],
    })
    .stat('Agents reporting', {
      description: 'Instances whose host agent pushed in the last 2 minutes.',
      sql: `select count(distinct instance_id) as agents from pga_agent_streams where last_seen > now() - interval '2 minutes'`,
    })
    .stat('Transactions/s (fleet)', {
      description:
        'Commits and rollbacks per second over all instances, from their last two database samples.',
      sql: `with db as (
                select instance_id, datname, taken_at, xact_commit + xact_rollback as xacts, stats_reset,
                       row_number() over (partition by instance_id, datname order by taken_at desc) as n
                  from sn_stat_database where taken_at > now() - interval '15 minutes')
              select sum(case when b.xacts is null or a.xacts < b.xacts or a.stats_reset is distinct from b.stats_reset
                              then null else (a.xacts - b.xacts) / nullif(extract(epoch from a.taken_at - b.taken_at), 0) end)
                       as "transactions/s"
                from db a left join db b on b.instance_id = a.instance_id and b.datname = a.datname and b.n = 2
               where a.n = 1`,
      unit: 'ops',
    })
    .stat('Firing alerts', {
      description: 'Alerts firing now in Prometheus (rules in prometheus/rules).',
      promql: { expr: 'count(ALERTS{alertstate="firing"}) or vector(0)' },
      thresholds: [[1, 'red']],
    })
    .table('Instances', {
      description:
        'Per instance: collection status and age, transactions/s and connections from the last two samples, max_connections, standbys and the worst replication lag, the oldest open transaction.',
      sql: instancesTable,
      height: 10,
      hiddenFields: ['id'],
      fieldLinks: {
        instance: {
          title: 'Instance overview',
          // Grafana's data link variables, not a template string.
          // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana syntax
          url: '/d/pga-instance-overview?var-instance=${__data.fields.id}&${__url_time_range}',
        },
      },
      fieldUnits: {
        'collected (s ago)': 's',
        'transactions/s': 'ops',
        'connections used': 'percentunit',
        'standby lag (bytes)': 'bytes',
        'replication lag (s)': 's',
        'oldest transaction (s)': 's',
      },
    })

const firingAlerts = (board: Board): Board =>
  board.table('Worst alerts firing', {
    description: 'Firing alerts, critical first (rules and runbooks: docs/ALERTS.md).',
    promql: {
      expr: 'sort_desc((ALERTS{alertstate="firing",severity="critical"} * 3) or (ALERTS{alertstate="firing",severity="warning"} * 2) or ALERTS{alertstate="firing"})',
      instant: true,
    },
    mayBeEmpty: 'nothing fires in a healthy fleet',
    height: 8,
  })

const load = (board: Board): Board =>
  board
    .row('Load')
    .timeseries('Transactions per second', {
      description: 'Commits and rollbacks per second per instance (all databases).',
      sql: perInstance(
        `with ${ratedCtes({ table: 'sn_stat_database', keys: ['instance_id', 'datname'], counters: ['xact_commit', 'xact_rollback'], reset: true, instance: enabled }, 'r')}
select r.time, i.name as metric, sum(r.xact_commit + r.xact_rollback) as value`,
        'r',
      ),
      unit: 'ops',
    })
    .timeseries('Connections', {
      description: 'Backends connected per instance (all databases).',
      sql: `with s as (
  select distinct on (instance_id, datname, bucket) instance_id, datname, numbackends, $__timeGroup(taken_at, $__interval) as bucket
    from sn_stat_database where ${enabled} and ${widenedRange()}
   order by instance_id, datname, bucket, taken_at desc)
select to_timestamp(s.bucket) as time, i.name as metric, sum(s.numbackends) as value
  from s join pga_instances i on i.id = s.instance_id
 where to_timestamp(s.bucket) >= $__timeFrom()::timestamptz
 group by 1, 2 order by 1`,
    })
    .timeseries('Replication lag (worst standby)', {
      description: 'Per primary, the largest replay lag of its standbys, in seconds.',
      sql: `with s as (
  select distinct on (instance_id, application_name, client_addr, bucket) instance_id, replay_lag_seconds,
         $__timeGroup(taken_at, $__interval) as bucket
    from sn_stat_replication where ${enabled} and $__timeFilter(taken_at)
   order by instance_id, application_name, client_addr, bucket, taken_at desc)
select to_timestamp(s.bucket) as time, i.name as metric, max(coalesce(s.replay_lag_seconds, 0)) as value
  from s join pga_instances i on i.id = s.instance_id
 group by 1, 2 order by 1`,
      unit: 's',
    })
    .timeseries('Host CPU busy', {
      description: 'Per instance with an agent: share of CPU time not idle (iowait counts as busy).',
      sql: perInstance(
        `with ${ratedCtes({ table: 'sn_sysstat_cpu', keys: ['instance_id', 'mode'], counters: ['seconds'], instance: enabled }, 'r')}
select r.time, i.name as metric, 1 - sum(r.seconds) filter (where r.mode = 'idle') / nullif(sum(r.seconds), 0) as value`,
        'r',
      ),
      unit: 'percentunit',
      min: 0,
      max: 1,
    })
    .table('Failed collections', {
      description: 'Collections in the range that failed or could not run, by instance, group and reason.',
      sql: `select i.name as instance, s.group_name as "group", coalesce(s.error_code, s.status) as reason,
                     count(*) as times, max(s.taken_at) as last, (array_agg(s.error order by s.taken_at desc))[1] as "last error"
                from sn_stat_snapshot s join pga_instances i on i.id = s.instance_id
               where s.status <> 'ok' and $__timeFilter(s.taken_at)
               group by 1, 2, 3 order by times desc limit 100`,
      mayBeEmpty: 'nothing failed in the range',
    })

export const fleetOverview: DashboardDefinition = {
  file: 'fleet-overview.json',
  answers:
    'Is every instance collected and healthy right now? Which are busiest, closest to max_connections, lagging, or firing alerts?',
  build: () =>
    [instancesNow, firingAlerts, load].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-fleet-overview',
        title: 'pganalytics / Fleet overview',
        description:
          'Every monitored instance: collection, load, connections, replication lag, host CPU, alerts.',
        variables: [],
      }),
    ),
}
