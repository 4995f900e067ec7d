// Server internals read from pg_control and shared memory: the last checkpoint (how much WAL a
// crash would replay, the oldest xid it recorded) with a standby's replay pause state; the SLRU
// caches (commit log, multixacts, subtransactions, ...), whose misses show as slowdowns no other
// view explains; and WAL prefetching during recovery (PostgreSQL 15+).
import { counter, gauge, info, key, label, statsReset } from './columns.ts'
import { hasView, type MetricGroup } from './types.ts'

/** WAL position of the server: its insert position on a primary, what it replayed on a standby. */
const positionLsn =
  'case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end'

const checkpointSelect = (pauseState: string) => `
  select c.checkpoint_lsn, c.redo_lsn, c.redo_wal_file, c.timeline_id, c.full_page_writes, c.checkpoint_time,
         extract(epoch from now() - c.checkpoint_time)::double precision as checkpoint_age_seconds,
         pg_wal_lsn_diff(${positionLsn}, c.redo_lsn)::bigint as wal_since_redo_bytes,
         age(c.oldest_xid) as oldest_xid_age, pg_is_in_recovery() as in_recovery, ${pauseState} as replay_pause_state
    from pg_control_checkpoint() c`

export const checkpointState: MetricGroup = {
  name: 'checkpoint_state',
  scope: 'instance',
  table: 'sn_checkpoint_state',
  help: 'The last checkpoint or restartpoint from pg_control: when, its redo position and the WAL written since (what crash recovery would replay), the oldest xid it recorded; on a standby, whether replay is paused.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  columns: [
    info('checkpoint_lsn', 'pg_lsn', 'Position of the last checkpoint record.'),
    info('redo_lsn', 'pg_lsn', 'Where recovery would start replaying.'),
    info('redo_wal_file', 'text', 'WAL file holding the redo position.'),
    gauge('timeline_id', 'integer', 'Timeline of the checkpoint.'),
    label('full_page_writes', 'boolean', 'full_page_writes at that checkpoint.'),
    info('checkpoint_time', 'timestamptz', 'When the checkpoint started.'),
    gauge('checkpoint_age_seconds', 'double precision', 'Time since that checkpoint.', 'seconds'),
    gauge(
      'wal_since_redo_bytes',
      'bigint',
      'WAL written (replayed, on a standby) since the redo position: what a crash now would replay.',
      'bytes',
    ),
    gauge(
      'oldest_xid_age',
      'integer',
      'Age of the oldest unfrozen xid in the cluster as of that checkpoint.',
    ),
    label('in_recovery', 'boolean', 'The server is a standby (or recovering).'),
    label(
      'replay_pause_state',
      'text',
      'On a standby: not paused, pause requested or paused (null on a primary and before 14).',
    ),
  ],
  variants: [
    {
      when: (c) => c.serverVersionNum >= 140000,
      source: 'pg_control_checkpoint, pg_get_wal_replay_pause_state (PostgreSQL ≥ 14)',
      sql: checkpointSelect('case when pg_is_in_recovery() then pg_get_wal_replay_pause_state() end'),
    },
    {
      when: () => true,
      source: 'pg_control_checkpoint, pg_is_wal_replay_paused (PostgreSQL ≤ 13)',
      sql: checkpointSelect(
        "case when pg_is_in_recovery() then case when pg_is_wal_replay_paused() then 'paused' else 'not paused' end end",
      ),
    },
  ],
}

const slruCounters = [
  'blks_zeroed',
  'blks_hit',
  'blks_read',
  'blks_written',
  'blks_exists',
  'flushes',
  'truncates',
]

export const slru: MetricGroup = {
  name: 'slru',
  scope: 'instance',
  table: 'sn_stat_slru',
  help: 'SLRU caches (commit timestamps, multixacts, subtransactions, transaction status, ...): pages hit, read, written, flushes and truncations (PostgreSQL 13+).',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  unavailable: (c) =>
    hasView(c, 'pg_stat_slru') ? null : 'pg_stat_slru does not exist before PostgreSQL 13',
  columns: [
    key('name', 'text', 'SLRU cache (names changed in 17: Xact became transaction, ...).'),
    ...slruCounters.map((name) =>
      counter(
        name,
        `${name.replaceAll('_', ' ')} (pg_stat_slru).`,
        name.startsWith('blks') ? 'blocks' : 'count',
      ),
    ),
    statsReset,
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_stat_slru (PostgreSQL ≥ 13)',
      sql: `select name, ${slruCounters.join(', ')}, stats_reset from pg_stat_slru`,
    },
  ],
}

const prefetchCounters = ['prefetch', 'hit', 'skip_init', 'skip_new', 'skip_fpw', 'skip_rep']

export const recoveryPrefetch: MetricGroup = {
  name: 'recovery_prefetch',
  scope: 'instance',
  table: 'sn_stat_recovery_prefetch',
  help: 'Blocks prefetched while replaying WAL (recovery_prefetch, PostgreSQL 15+): prefetched, already cached, skipped, and how far ahead it looks.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  unavailable: (c) =>
    hasView(c, 'pg_stat_recovery_prefetch')
      ? null
      : 'pg_stat_recovery_prefetch does not exist before PostgreSQL 15',
  columns: [
    counter('prefetch', 'Blocks prefetched because they were not in the buffer pool.', 'blocks'),
    counter('hit', 'Blocks not prefetched because they were already in the buffer pool.', 'blocks'),
    counter('skip_init', 'Blocks not prefetched because they would be zero-initialized.', 'blocks'),
    counter('skip_new', 'Blocks not prefetched because they did not exist yet.', 'blocks'),
    counter('skip_fpw', 'Blocks not prefetched because a full-page image was in the WAL.', 'blocks'),
    counter('skip_rep', 'Blocks not prefetched because they were prefetched recently.', 'blocks'),
    gauge('wal_distance', 'integer', 'How many bytes ahead the prefetcher is looking.', 'bytes'),
    gauge('block_distance', 'integer', 'How many blocks ahead the prefetcher is looking.', 'blocks'),
    gauge('io_depth', 'integer', 'Prefetches in flight.'),
    statsReset,
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_stat_recovery_prefetch (PostgreSQL ≥ 15)',
      sql: `select ${prefetchCounters.join(', ')}, wal_distance, block_distance, io_depth, stats_reset
              from pg_stat_recovery_prefetch`,
    },
  ],
}
