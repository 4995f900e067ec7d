// Session sampling (active session history): what non-idle backends are doing, sampled every
// few seconds and summed per snapshot, so the time sessions spend in each state and wait event is
// known per query_id and joins to statements. With pg_wait_sampling loaded and installed its
// profile (sampled in the server every 10 ms) is read once per snapshot instead; otherwise the
// collector's session sampler runs the one-sample query below on a kept connection every
// PGA_COLLECTOR_SESSION_SAMPLE_SECONDS (off by default), and only the sums are written.

import type { Capabilities } from '../../instances/probe.ts'
import { gauge, info, key, label } from './columns.ts'
import { hasColumn, hasView, type MetricGroup } from './types.ts'

/** Idle client backends and background processes idling in their main loop (wait type Activity)
 * are not sampled: they would drown what the server is busy with. */
const sampledSessions = `a.pid <> pg_backend_pid() and a.state is distinct from 'idle'
       and a.wait_event_type is distinct from 'Activity'`

/** What a wait event means, from pg_wait_events (PostgreSQL 17+). */
const description = (withView: boolean) =>
  withView
    ? {
        join: 'left join pg_wait_events w on w.type = x.wait_event_type and w.name = x.wait_event',
        column: 'w.description',
      }
    : { join: '', column: 'null::text' }

/** One sample: each combination's backend count is its `samples`; the sampler sums samples and
 * counts the samples taken. */
const oneSample = (queryId: string, descriptions: boolean) => {
  const d = description(descriptions)
  return `
  select x.datname, x.backend_type, x.state, x.wait_event_type, x.wait_event, x.query_id, x.samples,
         1 as samples_taken, x.samples::double precision as avg_sessions, ${d.column} as wait_event_description,
         'pg_stat_activity' as sampler
    from (select a.datname::text, a.backend_type, a.state, a.wait_event_type, a.wait_event, ${queryId} as query_id,
                 count(*)::bigint as samples
            from pg_stat_activity a
           where ${sampledSessions}
           group by 1, 2, 3, 4, 5, 6
           order by samples desc
           limit $1) x
    ${d.join}`
}

/** The profile counts samples per backend, wait event and query since its last reset; the
 * difference from the previous snapshot's profile ($2, kept by the worker) is this interval's.
 * Background processes idling in their main loop (Activity) are left out as in the sampler; the
 * profile has no state, so idle clients waiting for a command (Client/ClientRead) remain.
 * The first snapshot after a (re)start only records the profile. Backends that are gone have no
 * database or type. */
const profileDelta = (descriptions: boolean) => {
  const d = description(descriptions)
  return `
  with previous as (
    select ($2::text::jsonb ->> 'at')::timestamptz as at,
           coalesce($2::text::jsonb -> 'profile', '[]') as profile, $2::text::jsonb ? 'at' as primed),
  before as (
    select x.* from previous p,
           jsonb_to_recordset(p.profile) as x(pid integer, event_type text, event text, queryid bigint, count bigint)),
  delta as (
    select p.pid, p.event_type, p.event, p.queryid,
           p.count - case when b.count <= p.count then b.count else 0 end as n
      from {{schema:pg_wait_sampling}}.pg_wait_sampling_profile p
      left join before b on b.pid = p.pid and coalesce(b.event_type, '') = coalesce(p.event_type, '')
                        and coalesce(b.event, '') = coalesce(p.event, '') and coalesce(b.queryid, 0) = coalesce(p.queryid, 0)
     where (select primed from previous) and p.event_type is distinct from 'Activity'),
  ticks as (
    select greatest(1, round(extract(epoch from clock_timestamp() - p.at) * 1000
                             / current_setting('pg_wait_sampling.profile_period')::numeric))::integer as n
      from previous p),
  x as (
    select a.datname::text, a.backend_type, null::text as state, d.event_type as wait_event_type, d.event as wait_event,
           nullif(d.queryid, 0) as query_id, sum(d.n)::bigint as samples
      from delta d
      left join pg_stat_activity a on a.pid = d.pid
     where d.n > 0
     group by 1, 2, 3, 4, 5, 6
     order by samples desc
     limit $1)
  select x.datname, x.backend_type, x.state, x.wait_event_type, x.wait_event, x.query_id, x.samples,
         t.n as samples_taken, (x.samples::numeric / t.n)::double precision as avg_sessions,
         ${d.column} as wait_event_description, 'pg_wait_sampling' as sampler
    from x cross join ticks t
    ${d.join}`
}

/** pg_wait_sampling is loaded (shared_preload_libraries) and created in the connected database. */
const profiled = (c: Capabilities) =>
  c.waitSamplingLoaded === true && c.extensions.pg_wait_sampling !== undefined

const profileCounters = `select jsonb_build_object('at', clock_timestamp(), 'profile', coalesce(jsonb_agg(p), '[]'))::text
    from (select pid, event_type, event, queryid, count from {{schema:pg_wait_sampling}}.pg_wait_sampling_profile) p`

export const sessionSamples: MetricGroup = {
  name: 'session_samples',
  scope: 'instance',
  table: 'sn_session_samples',
  help: 'Active session history: non-idle backends sampled every few seconds (PGA_COLLECTOR_SESSION_SAMPLE_SECONDS, off by default) or by pg_wait_sampling, summed per snapshot by database, backend type, state, wait event and query_id (joins to statements.queryid).',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 7,
  rowLimit: 500,
  privileges:
    'Without pg_monitor (pg_read_all_stats) other users’ sessions show no state, wait event or query_id.',
  columns: [
    key('datname', 'text', 'Database (null for background processes and gone backends).'),
    key('backend_type', 'text', 'client backend, autovacuum worker, ... (null for gone backends).'),
    key(
      'state',
      'text',
      'active, idle in transaction, ... (null for background processes, and with pg_wait_sampling).',
    ),
    key('wait_event_type', 'text', 'Wait event type (null: on CPU or not waiting).'),
    key('wait_event', 'text', 'Wait event.'),
    key(
      'query_id',
      'bigint',
      'Query identifier, as statements.queryid (PostgreSQL 14+ with compute_query_id).',
    ),
    {
      ...gauge('samples', 'bigint', 'Backend observations in this combination over the interval.'),
      summable: true,
    },
    {
      ...gauge(
        'samples_taken',
        'integer',
        'Samples taken over the interval (with pg_wait_sampling: its profile periods).',
      ),
      summable: true,
    },
    gauge(
      'avg_sessions',
      'double precision',
      'samples / samples_taken: backends in this combination on average (average active sessions).',
    ),
    info('wait_event_description', 'text', 'What the wait event means (pg_wait_events, PostgreSQL 17+).'),
    label('sampler', 'text', 'pg_stat_activity (the collector’s sampler) or pg_wait_sampling.'),
  ],
  variants: [
    {
      when: (c) => profiled(c) && hasView(c, 'pg_wait_events'),
      source:
        'pg_wait_sampling_profile, pg_stat_activity, pg_wait_events (pg_wait_sampling, PostgreSQL ≥ 17)',
      sql: profileDelta(true),
      counters: profileCounters,
    },
    {
      when: profiled,
      source: 'pg_wait_sampling_profile, pg_stat_activity (pg_wait_sampling loaded and installed)',
      sql: profileDelta(false),
      counters: profileCounters,
    },
    {
      when: (c) => hasView(c, 'pg_wait_events'),
      source: 'pg_stat_activity sampled, pg_wait_events (PostgreSQL ≥ 17)',
      sql: oneSample('a.query_id', true),
      sampled: true,
    },
    {
      when: (c) => hasColumn(c, 'pg_stat_activity', 'query_id'),
      source: 'pg_stat_activity sampled (PostgreSQL 14–16)',
      sql: oneSample('a.query_id', false),
      sampled: true,
    },
    {
      when: () => true,
      source: 'pg_stat_activity sampled (PostgreSQL ≤ 13: no query_id)',
      sql: oneSample('null::bigint', false),
      sampled: true,
    },
  ],
}
