// Server-wide engine groups: background writer, checkpointer, archiver, WAL, I/O, replication
// (both sides) and replication slots. Columns are canonical across versions: PostgreSQL 17 moved
// checkpoints from pg_stat_bgwriter to pg_stat_checkpointer, 18 moved WAL write/sync timings and
// added byte columns to pg_stat_io; the variants below map each shape onto the same names.
import { counter, gauge, info, key, label, statsReset } from './columns.ts'
import { hasColumn, hasView, type MetricGroup } from './types.ts'

/** WAL position of the server: its insert position on a primary; on a standby the furthest of
 * what it received and what it replayed (a standby that is not streaming, restoring from an
 * archive or started without a primary, has no receive position). */
const currentLsn =
  'case when pg_is_in_recovery() then greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) else pg_current_wal_lsn() end'

export const bgwriter: MetricGroup = {
  name: 'bgwriter',
  scope: 'instance',
  table: 'sn_stat_bgwriter',
  help: 'Background writer: buffers it cleaned, how often it stopped for writing too many, buffers allocated.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  columns: [
    counter('buffers_clean', 'Buffers written by the background writer.', 'blocks'),
    counter('maxwritten_clean', 'Times it stopped a cleaning scan for writing too many buffers.'),
    counter('buffers_alloc', 'Buffers allocated.', 'blocks'),
    counter(
      'buffers_backend',
      'Buffers written directly by backends (null from 17: see the io group).',
      'blocks',
    ),
    counter('buffers_backend_fsync', 'Backend fsync calls (null from 17: see the io group).'),
    statsReset,
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_bgwriter', 'buffers_backend'),
      source: 'pg_stat_bgwriter (PostgreSQL ≤ 16)',
      sql: `select buffers_clean, maxwritten_clean, buffers_alloc, buffers_backend, buffers_backend_fsync, stats_reset
              from pg_stat_bgwriter`,
    },
    {
      when: () => true,
      source: 'pg_stat_bgwriter (PostgreSQL ≥ 17, backend writes moved to pg_stat_io)',
      sql: `select buffers_clean, maxwritten_clean, buffers_alloc, null::bigint as buffers_backend,
                   null::bigint as buffers_backend_fsync, stats_reset
              from pg_stat_bgwriter`,
    },
  ],
}

export const checkpointer: MetricGroup = {
  name: 'checkpointer',
  scope: 'instance',
  table: 'sn_stat_checkpointer',
  help: 'Checkpoints and restartpoints: how many, why, how long writing and syncing took, buffers written.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  columns: [
    counter('num_timed', 'Scheduled checkpoints (checkpoint_timeout).'),
    counter('num_requested', 'Requested checkpoints (max_wal_size, CHECKPOINT, ...).'),
    counter('num_done', 'Checkpoints completed (null before 18).'),
    counter('restartpoints_timed', 'Scheduled restartpoints on a standby (null before 17).'),
    counter('restartpoints_req', 'Requested restartpoints (null before 17).'),
    counter('restartpoints_done', 'Restartpoints completed (null before 17).'),
    counter('write_time', 'Time spent writing checkpoint files.', 'ms'),
    counter('sync_time', 'Time spent syncing checkpoint files.', 'ms'),
    counter('buffers_written', 'Buffers written by checkpoints and restartpoints.', 'blocks'),
    statsReset,
    counter(
      'slru_written',
      'SLRU buffers written by checkpoints and restartpoints (null before 18).',
      'blocks',
    ),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_checkpointer', 'num_done'),
      source: 'pg_stat_checkpointer (PostgreSQL ≥ 18)',
      sql: `select num_timed, num_requested, num_done, restartpoints_timed, restartpoints_req, restartpoints_done,
                   write_time, sync_time, buffers_written, stats_reset, slru_written
              from pg_stat_checkpointer`,
    },
    {
      when: (c) => hasView(c, 'pg_stat_checkpointer'),
      source: 'pg_stat_checkpointer (PostgreSQL 17)',
      sql: `select num_timed, num_requested, null::bigint as num_done, restartpoints_timed, restartpoints_req,
                   restartpoints_done, write_time, sync_time, buffers_written, stats_reset,
                   null::bigint as slru_written
              from pg_stat_checkpointer`,
    },
    {
      when: () => true,
      source: 'pg_stat_bgwriter (PostgreSQL ≤ 16)',
      sql: `select checkpoints_timed as num_timed, checkpoints_req as num_requested, null::bigint as num_done,
                   null::bigint as restartpoints_timed, null::bigint as restartpoints_req,
                   null::bigint as restartpoints_done, checkpoint_write_time as write_time,
                   checkpoint_sync_time as sync_time, buffers_checkpoint as buffers_written, stats_reset,
                   null::bigint as slru_written
              from pg_stat_bgwriter`,
    },
  ],
}

export const archiver: MetricGroup = {
  name: 'archiver',
  scope: 'instance',
  table: 'sn_stat_archiver',
  help: 'WAL archiving: segments archived and failed (rates on the read side), the last of each, and the backlog.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  columns: [
    label('archive_mode', 'text', 'archive_mode setting (off, on, always).'),
    counter('archived_count', 'WAL files archived.'),
    info('last_archived_wal', 'text', 'Last WAL file archived.'),
    info('last_archived_time', 'timestamptz', 'When it was archived.'),
    counter('failed_count', 'Failed archive attempts.'),
    info('last_failed_wal', 'text', 'WAL file of the last failure.'),
    info('last_failed_time', 'timestamptz', 'When the last failure happened.'),
    statsReset,
    gauge(
      'ready_files',
      'bigint',
      'WAL segments waiting to be archived (.ready in pg_wal/archive_status; null without pg_monitor or before 12).',
    ),
  ],
  variants: [
    {
      when: (c) => (c.superuser || c.pgMonitor) && c.serverVersionNum >= 120000,
      source: 'pg_stat_archiver, pg_ls_archive_statusdir (PostgreSQL ≥ 12, pg_monitor)',
      sql: `select current_setting('archive_mode') as archive_mode, archived_count, last_archived_wal,
                   last_archived_time, failed_count, last_failed_wal, last_failed_time, stats_reset,
                   (select count(*) from pg_ls_archive_statusdir() where name like '%.ready')::bigint as ready_files
              from pg_stat_archiver`,
    },
    {
      when: () => true,
      source: 'pg_stat_archiver (without pg_monitor, or before 12: no backlog)',
      sql: `select current_setting('archive_mode') as archive_mode, archived_count, last_archived_wal,
                   last_archived_time, failed_count, last_failed_wal, last_failed_time, stats_reset,
                   null::bigint as ready_files
              from pg_stat_archiver`,
    },
  ],
}

export const wal: MetricGroup = {
  name: 'wal',
  scope: 'instance',
  table: 'sn_stat_wal',
  help: 'WAL generation: records, full-page images, bytes, buffer-full waits, writes and syncs.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  columns: [
    counter('lsn_bytes', 'WAL position in bytes (a counter: its rate is WAL generated per second).', 'bytes'),
    counter('wal_records', 'WAL records generated (null before 14).'),
    counter('wal_fpi', 'Full-page images generated (null before 14).'),
    counter('wal_bytes', 'WAL bytes generated (null before 14).', 'bytes'),
    counter('wal_buffers_full', 'Times WAL was written because the WAL buffers were full (null before 14).'),
    counter('wal_write', 'WAL write calls (null from 18: see the io group).'),
    counter('wal_sync', 'WAL sync calls (null from 18: see the io group).'),
    counter('wal_write_time', 'Time writing WAL, with track_wal_io_timing (null from 18).', 'ms'),
    counter('wal_sync_time', 'Time syncing WAL, with track_wal_io_timing (null from 18).', 'ms'),
    statsReset,
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_wal', 'wal_write'),
      source: 'pg_stat_wal (PostgreSQL 14–17)',
      sql: `select pg_wal_lsn_diff(${currentLsn}, '0/0')::bigint as lsn_bytes, wal_records, wal_fpi, wal_bytes,
                   wal_buffers_full, wal_write, wal_sync, wal_write_time, wal_sync_time, stats_reset
              from pg_stat_wal`,
    },
    {
      when: (c) => hasView(c, 'pg_stat_wal'),
      source: 'pg_stat_wal (PostgreSQL ≥ 18, write and sync counts moved to pg_stat_io)',
      sql: `select pg_wal_lsn_diff(${currentLsn}, '0/0')::bigint as lsn_bytes, wal_records, wal_fpi, wal_bytes,
                   wal_buffers_full, null::bigint as wal_write, null::bigint as wal_sync,
                   null::double precision as wal_write_time, null::double precision as wal_sync_time, stats_reset
              from pg_stat_wal`,
    },
    {
      when: () => true,
      source: 'WAL position only (PostgreSQL ≤ 13)',
      sql: `select pg_wal_lsn_diff(${currentLsn}, '0/0')::bigint as lsn_bytes, null::bigint as wal_records,
                   null::bigint as wal_fpi, null::bigint as wal_bytes, null::bigint as wal_buffers_full,
                   null::bigint as wal_write, null::bigint as wal_sync, null::double precision as wal_write_time,
                   null::double precision as wal_sync_time, null::timestamptz as stats_reset`,
    },
  ],
}

const ioCounters = ['reads', 'writes', 'writebacks', 'extends', 'hits', 'evictions', 'reuses', 'fsyncs']
const ioTimes = ['read_time', 'write_time', 'writeback_time', 'extend_time', 'fsync_time']

export const io: MetricGroup = {
  name: 'io',
  scope: 'instance',
  table: 'sn_stat_io',
  help: 'I/O by backend type, object and context: operations, bytes and times (PostgreSQL 16+).',
  defaultIntervalSeconds: 300,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting; times need track_io_timing.',
  unavailable: (c) => (hasView(c, 'pg_stat_io') ? null : 'pg_stat_io does not exist before PostgreSQL 16'),
  columns: [
    key('backend_type', 'text', 'Backend type (client backend, checkpointer, ...).'),
    key('object', 'text', 'Target object (relation, temp relation, wal from 18).'),
    key('context', 'text', 'Context (normal, vacuum, bulkread, bulkwrite, ...).'),
    ...ioCounters.map((name) => counter(name, `${name} operations.`)),
    counter('read_bytes', 'Bytes read (reads × op_bytes before 18).', 'bytes'),
    counter('write_bytes', 'Bytes written (writes × op_bytes before 18).', 'bytes'),
    counter('extend_bytes', 'Bytes extended (extends × op_bytes before 18).', 'bytes'),
    ...ioTimes.map((name) => counter(name, `${name.replace('_time', '')} time.`, 'ms')),
    statsReset,
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_io', 'read_bytes'),
      source: 'pg_stat_io (PostgreSQL ≥ 18, byte columns)',
      sql: `select backend_type, object, context, ${ioCounters.join(', ')}, read_bytes::bigint, write_bytes::bigint,
                   extend_bytes::bigint, ${ioTimes.join(', ')}, stats_reset
              from pg_stat_io`,
    },
    {
      when: () => true,
      source: 'pg_stat_io (PostgreSQL 16–17, bytes from op_bytes)',
      sql: `select backend_type, object, context, ${ioCounters.join(', ')}, reads * op_bytes as read_bytes,
                   writes * op_bytes as write_bytes, extends * op_bytes as extend_bytes, ${ioTimes.join(', ')},
                   stats_reset
              from pg_stat_io`,
    },
  ],
}

export const replication: MetricGroup = {
  name: 'replication',
  scope: 'instance',
  table: 'sn_stat_replication',
  help: 'Primary side of streaming replication: one row per standby (WAL senders of base backups are not standbys) with lag in bytes and time.',
  defaultIntervalSeconds: 15,
  defaultRetentionDays: 30,
  privileges:
    'Without pg_monitor (pg_read_all_stats) the LSN and lag columns of other users’ senders are null.',
  columns: [
    key('application_name', 'text', 'Standby name (its application_name).'),
    key('client_addr', 'inet', 'Standby address (null over a Unix socket).'),
    label('pid', 'integer', 'WAL sender process.'),
    label('usename', 'text', 'Replication login.'),
    label('state', 'text', 'startup, catchup, streaming or stopping.'),
    label('sync_state', 'text', 'async, potential, sync or quorum.'),
    gauge('sync_priority', 'integer', 'Priority for synchronous standby selection.'),
    info('backend_start', 'timestamptz', 'When the standby connected.'),
    info('sent_lsn', 'pg_lsn', 'Last WAL position sent.'),
    info('write_lsn', 'pg_lsn', 'Last position written by the standby.'),
    info('flush_lsn', 'pg_lsn', 'Last position flushed by the standby.'),
    info('replay_lsn', 'pg_lsn', 'Last position replayed by the standby.'),
    gauge('sent_lag_bytes', 'bigint', 'WAL not yet sent.', 'bytes'),
    gauge('write_lag_bytes', 'bigint', 'WAL not yet written on the standby.', 'bytes'),
    gauge('flush_lag_bytes', 'bigint', 'WAL not yet flushed on the standby.', 'bytes'),
    gauge('replay_lag_bytes', 'bigint', 'WAL not yet replayed on the standby.', 'bytes'),
    gauge('write_lag_seconds', 'double precision', 'write_lag as seconds.', 'seconds'),
    gauge('flush_lag_seconds', 'double precision', 'flush_lag as seconds.', 'seconds'),
    gauge('replay_lag_seconds', 'double precision', 'replay_lag as seconds.', 'seconds'),
    info(
      'reply_time',
      'timestamptz',
      'When the standby sent its last reply (a stale one means a stuck standby).',
    ),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_stat_replication, pg_wal_lsn_diff',
      sql: `select application_name, client_addr, pid, usename::text, state, sync_state, sync_priority, backend_start,
                   sent_lsn, write_lsn, flush_lsn, replay_lsn,
                   pg_wal_lsn_diff(${currentLsn}, sent_lsn)::bigint as sent_lag_bytes,
                   pg_wal_lsn_diff(${currentLsn}, write_lsn)::bigint as write_lag_bytes,
                   pg_wal_lsn_diff(${currentLsn}, flush_lsn)::bigint as flush_lag_bytes,
                   pg_wal_lsn_diff(${currentLsn}, replay_lsn)::bigint as replay_lag_bytes,
                   extract(epoch from write_lag)::double precision as write_lag_seconds,
                   extract(epoch from flush_lag)::double precision as flush_lag_seconds,
                   extract(epoch from replay_lag)::double precision as replay_lag_seconds, reply_time
              from pg_stat_replication
             where state is distinct from 'backup'`,
    },
  ],
}

export const walReceiver: MetricGroup = {
  name: 'wal_receiver',
  scope: 'instance',
  table: 'sn_stat_wal_receiver',
  help: 'Standby side of streaming replication: the WAL receiver, what it received and replayed, replay delay.',
  defaultIntervalSeconds: 15,
  defaultRetentionDays: 30,
  privileges: 'Without pg_monitor (pg_read_all_stats) most columns are null.',
  columns: [
    label('status', 'text', 'WAL receiver status (streaming, waiting, ...).'),
    label('sender_host', 'text', 'Primary it streams from.'),
    label('sender_port', 'integer', 'Port of the primary.'),
    label('slot_name', 'text', 'Replication slot in use.'),
    gauge('received_tli', 'integer', 'Timeline received.'),
    info('flushed_lsn', 'pg_lsn', 'Last WAL position received and flushed.'),
    info('replay_lsn', 'pg_lsn', 'Last WAL position replayed.'),
    gauge('replay_lag_bytes', 'bigint', 'Received but not yet replayed.', 'bytes'),
    gauge(
      'replay_delay_seconds',
      'double precision',
      'Age of the last replayed transaction while WAL awaits replay (0 when caught up).',
      'seconds',
    ),
    info('last_msg_receipt_time', 'timestamptz', 'When the last message from the primary arrived.'),
    info('latest_end_time', 'timestamptz', 'Time of the last WAL position reported to the primary.'),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_wal_receiver', 'flushed_lsn'),
      source: 'pg_stat_wal_receiver, pg_last_wal_replay_lsn (PostgreSQL ≥ 13)',
      sql: `select status, sender_host, sender_port, slot_name, received_tli, flushed_lsn,
                   pg_last_wal_replay_lsn() as replay_lsn,
                   pg_wal_lsn_diff(flushed_lsn, pg_last_wal_replay_lsn())::bigint as replay_lag_bytes,
                   case when flushed_lsn = pg_last_wal_replay_lsn() then 0
                        else extract(epoch from now() - pg_last_xact_replay_timestamp()) end::double precision
                     as replay_delay_seconds,
                   last_msg_receipt_time, latest_end_time
              from pg_stat_wal_receiver`,
    },
  ],
  unavailable: (c) =>
    hasColumn(c, 'pg_stat_wal_receiver', 'flushed_lsn') ? null : 'needs PostgreSQL 13 or later',
}

const slotColumns17 =
  'null::timestamptz as inactive_since, null::text as invalidation_reason, null::boolean as failover, null::boolean as synced'

export const replicationSlots: MetricGroup = {
  name: 'replication_slots',
  scope: 'instance',
  table: 'sn_replication_slots',
  help: 'Replication slots: active or not, WAL they retain, wal_status, xmin they hold back.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  columns: [
    key('slot_name', 'text', 'Slot name.'),
    label('slot_type', 'text', 'physical or logical.'),
    label('plugin', 'text', 'Output plugin of a logical slot.'),
    label('datname', 'text', 'Database of a logical slot.'),
    label('temporary', 'boolean', 'Temporary slot.'),
    gauge('active', 'boolean', 'A consumer is connected.'),
    label('active_pid', 'integer', 'Process using it.'),
    label('wal_status', 'text', 'reserved, extended, unreserved or lost.'),
    gauge('safe_wal_size', 'bigint', 'Bytes that can still be written before the slot is lost.', 'bytes'),
    gauge('retained_bytes', 'bigint', 'WAL kept for this slot (from restart_lsn).', 'bytes'),
    gauge('xmin_age', 'integer', 'Age of the xmin it holds back.'),
    gauge('catalog_xmin_age', 'integer', 'Age of the catalog xmin it holds back.'),
    label('conflicting', 'boolean', 'Logical slot invalidated by a recovery conflict (null before 16).'),
    info('inactive_since', 'timestamptz', 'Since when no consumer has used the slot (null before 17).'),
    label(
      'invalidation_reason',
      'text',
      'Why the slot was invalidated: wal_removed, rows_removed, wal_level_insufficient, idle_timeout (null before 17).',
    ),
    label('failover', 'boolean', 'Logical slot synchronised to standbys for failover (null before 17).'),
    label('synced', 'boolean', 'Slot on a standby synchronised from the primary (null before 17).'),
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_replication_slots', 'inactive_since'),
      source: 'pg_replication_slots (PostgreSQL ≥ 17)',
      sql: `select slot_name::text, slot_type, plugin::text, database::text as datname, temporary, active, active_pid,
                   wal_status, safe_wal_size, pg_wal_lsn_diff(${currentLsn}, restart_lsn)::bigint as retained_bytes,
                   age(xmin) as xmin_age, age(catalog_xmin) as catalog_xmin_age, conflicting, inactive_since,
                   invalidation_reason, failover, synced
              from pg_replication_slots`,
    },
    {
      when: (c) => hasColumn(c, 'pg_replication_slots', 'conflicting'),
      source: 'pg_replication_slots (PostgreSQL 16)',
      sql: `select slot_name::text, slot_type, plugin::text, database::text as datname, temporary, active, active_pid,
                   wal_status, safe_wal_size, pg_wal_lsn_diff(${currentLsn}, restart_lsn)::bigint as retained_bytes,
                   age(xmin) as xmin_age, age(catalog_xmin) as catalog_xmin_age, conflicting,
                   ${slotColumns17}
              from pg_replication_slots`,
    },
    {
      when: () => true,
      source: 'pg_replication_slots (PostgreSQL 13–15)',
      sql: `select slot_name::text, slot_type, plugin::text, database::text as datname, temporary, active, active_pid,
                   wal_status, safe_wal_size, pg_wal_lsn_diff(${currentLsn}, restart_lsn)::bigint as retained_bytes,
                   age(xmin) as xmin_age, age(catalog_xmin) as catalog_xmin_age, null::boolean as conflicting,
                   ${slotColumns17}
              from pg_replication_slots`,
    },
  ],
}
