// Activity and locks: sessions by state and wait, the oldest transactions and longest queries,
// idle-in-transaction sessions, who blocks whom (blocking chains with their queries, through
// pga_lock_query()), and deadlocks.
import { Board, type DashboardDefinition } from '../board.ts'
import { inRange, instanceIs, lastSnapshots, rated } from '../sql.ts'
import { databaseVariable, instanceVariable } from '../variables.ts'

const activityRows = (select: string, where: string, group = '1, 2') => `with ${lastSnapshots('activity')}
select to_timestamp(s.bucket) as time, ${select}
  from snaps s join sn_stat_activity a on a.snap_id = s.snap_id and a.taken_at = s.taken_at
 where a.${instanceIs()} and (a.datname in ($database) or a.datname is null) and ${where}
 group by ${group} order by 1`

const sessionsAndLocks = (board: Board): Board =>
  board
    .timeseries('Client sessions by state', {
      description: 'Client backends by state.',
      sql: activityRows(
        `coalesce(a.state, 'unknown') as metric, sum(a.sessions) as value`,
        `a.backend_type = 'client backend'`,
      ),
      stack: true,
    })
    .timeseries('Active sessions by wait event type', {
      description:
        'Active sessions waiting, by wait event type (Lock, LWLock, IO, Client, ...); CPU when not waiting.',
      sql: activityRows(
        `coalesce(a.wait_event_type, 'CPU (not waiting)') as metric, sum(a.sessions) as value`,
        `a.backend_type = 'client backend' and a.state = 'active'`,
      ),
      stack: true,
    })
    .timeseries('Oldest transaction and longest query', {
      description:
        'Age of the oldest open transaction, the longest running query and the longest idle-in-transaction session (they hold back vacuum and locks).',
      sql: activityRows(
        `max(a.max_xact_age_seconds) as "oldest transaction",
       max(a.max_query_age_seconds) filter (where a.state = 'active') as "longest query",
       max(a.max_state_age_seconds) filter (where a.state like 'idle in transaction%') as "longest idle in transaction"`,
        `a.backend_type = 'client backend'`,
        '1',
      ),
      unit: 's',
    })
    .timeseries('Sessions waiting on locks', {
      description: 'Sessions waiting for a lock, and the sessions blocking them, at each sample.',
      sql: `with ${lastSnapshots('locks')}
select to_timestamp(s.bucket) as time,
       count(l.pid) filter (where cardinality(l.blocking_pids) > 0) as waiting,
       count(l.pid) filter (where cardinality(l.blocking_pids) = 0) as "root blockers"
  from snaps s left join sn_lock_waits l on l.snap_id = s.snap_id and l.taken_at = s.taken_at and l.${instanceIs()}
 group by 1 order by 1`,
    })
    .table('Blocking chains', {
      description:
        'The last sample of the range with sessions waiting on locks: each waiting session, whom it waits for, and the root blockers (often idle in transaction), with their queries.',
      sql: `with latest as (
  select snap_id, taken_at from sn_stat_snapshot
   where ${instanceIs()} and group_name = 'locks' and status = 'ok' and row_count > 0 and $__timeFilter(taken_at)
   order by taken_at desc limit 1)
select l.taken_at as at, l.pid, case when cardinality(l.blocking_pids) = 0 then 'blocks others' else 'waits' end as role,
       array_to_string(l.blocking_pids, ', ') as "waits for", l.blocked_sessions as "blocks", l.state, l.usename as "user",
       l.datname as database, l.application_name as application, l.lock_type || ' ' || coalesce(l.lock_mode, '') as lock,
       l.relation, l.wait_seconds as waiting, l.xact_age_seconds as "transaction age",
       pga_lock_query(l.instance_id, l.taken_at, l.pid) as query
  from sn_lock_waits l join latest t on t.snap_id = l.snap_id and t.taken_at = l.taken_at
 order by cardinality(l.blocking_pids), l.blocked_sessions desc, l.wait_seconds desc nulls last`,
      height: 10,
      mayBeEmpty: 'no session waited on a lock in the range',
      fieldUnits: { waiting: 's', 'transaction age': 's' },
    })
    .timeseries('Deadlocks per minute', {
      description: 'Deadlocks detected in the selected databases, per minute.',
      sql: `${rated({ table: 'sn_stat_database', keys: ['datname'], counters: ['deadlocks'], reset: true, where: 'datname in ($database)' })}
select time, sum(deadlocks) * 60 as deadlocks from rated where ${inRange()} group by time order by time`,
    })
    .timeseries('Sessions by backend type', {
      description:
        'All backends by type: client backends, autovacuum workers, WAL senders, background workers.',
      sql: activityRows(`a.backend_type as metric, sum(a.sessions) as value`, 'true'),
      stack: true,
    })

export const activityLocks: DashboardDefinition = {
  file: 'activity-locks.json',
  answers:
    'What are sessions doing and waiting on, which transactions are old or idle in transaction, who blocks whom right now or at a past moment, and are there deadlocks?',
  build: () =>
    [sessionsAndLocks].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-activity-locks',
        title: 'pganalytics / Activity and locks',
        description:
          'Sessions by state and wait event, transaction and query ages, blocking chains, deadlocks.',
        variables: [instanceVariable(), databaseVariable()],
        time: 'now-3h',
      }),
    ),
}
