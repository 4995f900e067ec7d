// Logical replication on both sides: subscriptions on a subscriber (apply worker position and
// staleness, errors since 15, table sync workers), the sync state of each subscribed table per
// database, and what logical decoding costs on a publisher (transactions spilled to disk or
// streamed, per slot, since 14).
import { counter, gauge, info, key, label, statsReset } from './columns.ts'
import { hasColumn, hasView, type MetricGroup } from './types.ts'

/** One row per subscription: its leader apply worker, sync workers counted. */
const subscriptionsSelect = (p: { leaderOnly: string; stats: string; statsJoin: string }) => `
  select s.subname::text, d.datname::text, s.subenabled as enabled, w.pid, w.received_lsn, w.latest_end_lsn,
         w.last_msg_send_time, w.last_msg_receipt_time, w.latest_end_time,
         extract(epoch from now() - w.last_msg_receipt_time)::double precision as receipt_age_seconds,
         (select count(*) from pg_stat_subscription x where x.subid = s.oid and x.relid is not null)::integer
           as sync_workers,
         ${p.stats}
    from pg_subscription s
    left join pg_database d on d.oid = s.subdbid
    left join pg_stat_subscription w on w.subid = s.oid and w.relid is null ${p.leaderOnly}
    ${p.statsJoin}`

export const subscriptions: MetricGroup = {
  name: 'subscriptions',
  scope: 'instance',
  table: 'sn_stat_subscription',
  help: 'Logical replication subscriptions on this server: apply worker, WAL position received and confirmed, time since the last message from the publisher, table sync workers, apply and sync errors.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting (the connection strings of subscriptions are never read).',
  columns: [
    key('subname', 'text', 'Subscription.'),
    label('datname', 'text', 'Database it replicates into.'),
    label('enabled', 'boolean', 'Enabled (a subscription disabled after an error stops here).'),
    label('pid', 'integer', 'Apply worker process (null when it is not running).'),
    info('received_lsn', 'pg_lsn', 'Last WAL position received from the publisher.'),
    info('latest_end_lsn', 'pg_lsn', 'Last position reported back to the publisher.'),
    info('last_msg_send_time', 'timestamptz', 'Send time of the last message from the publisher.'),
    info('last_msg_receipt_time', 'timestamptz', 'When the last message arrived.'),
    info('latest_end_time', 'timestamptz', 'When the last position was reported back.'),
    gauge(
      'receipt_age_seconds',
      'double precision',
      'Time since the last message from the publisher (it sends keepalives when idle).',
      'seconds',
    ),
    gauge('sync_workers', 'integer', 'Table synchronization workers running.'),
    counter('apply_error_count', 'Errors while applying changes (null before 15).'),
    counter('sync_error_count', 'Errors during initial table synchronization (null before 15).'),
    statsReset,
  ],
  variants: [
    {
      when: (c) => hasColumn(c, 'pg_stat_subscription', 'leader_pid'),
      source: 'pg_subscription, pg_stat_subscription, pg_stat_subscription_stats (PostgreSQL ≥ 16)',
      sql: subscriptionsSelect({
        leaderOnly: 'and w.leader_pid is null',
        stats: 'st.apply_error_count, st.sync_error_count, st.stats_reset',
        statsJoin: 'left join pg_stat_subscription_stats st on st.subid = s.oid',
      }),
    },
    {
      when: (c) => hasView(c, 'pg_stat_subscription_stats'),
      source: 'pg_subscription, pg_stat_subscription, pg_stat_subscription_stats (PostgreSQL 15)',
      sql: subscriptionsSelect({
        leaderOnly: '',
        stats: 'st.apply_error_count, st.sync_error_count, st.stats_reset',
        statsJoin: 'left join pg_stat_subscription_stats st on st.subid = s.oid',
      }),
    },
    {
      when: () => true,
      source: 'pg_subscription, pg_stat_subscription (PostgreSQL ≤ 14)',
      sql: subscriptionsSelect({
        leaderOnly: '',
        stats:
          'null::bigint as apply_error_count, null::bigint as sync_error_count, null::timestamptz as stats_reset',
        statsJoin: '',
      }),
    },
  ],
}

export const subscriptionTables: MetricGroup = {
  name: 'subscription_tables',
  scope: 'database',
  table: 'sn_subscription_tables',
  help: 'Tables of each subscription by synchronization state (init, data copy, finished copy, synchronized, ready), in the database the subscription replicates into.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting to each database (CONNECT).',
  columns: [
    key('datname', 'text', 'Database.'),
    key('subname', 'text', 'Subscription.'),
    key('state', 'text', 'init, data_copy, finished_copy, synchronized or ready.'),
    gauge('tables', 'integer', 'Tables in this state.'),
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_subscription_rel, pg_subscription',
      sql: `select current_database()::text as datname, s.subname::text,
                   case r.srsubstate when 'i' then 'init' when 'd' then 'data_copy' when 'f' then 'finished_copy'
                        when 's' then 'synchronized' when 'r' then 'ready' else r.srsubstate::text end as state,
                   count(*)::integer as tables
              from pg_subscription_rel r
              join pg_subscription s on s.oid = r.srsubid
             group by 1, 2, 3`,
    },
  ],
}

export const replicationSlotStats: MetricGroup = {
  name: 'replication_slot_stats',
  scope: 'instance',
  table: 'sn_stat_replication_slots',
  help: 'Logical decoding per slot (PostgreSQL 14+): transactions and bytes spilled to disk or streamed because they outgrew logical_decoding_work_mem, and everything decoded.',
  defaultIntervalSeconds: 60,
  defaultRetentionDays: 30,
  privileges: 'None beyond connecting.',
  unavailable: (c) =>
    hasView(c, 'pg_stat_replication_slots')
      ? null
      : 'pg_stat_replication_slots does not exist before PostgreSQL 14',
  columns: [
    key('slot_name', 'text', 'Logical replication slot.'),
    counter('spill_txns', 'Transactions spilled to disk (logical_decoding_work_mem exceeded).'),
    counter('spill_count', 'Times transactions were spilled to disk.'),
    counter('spill_bytes', 'Decoded bytes spilled to disk.', 'bytes'),
    counter('stream_txns', 'In-progress transactions streamed to the subscriber.'),
    counter('stream_count', 'Times in-progress transactions were streamed.'),
    counter('stream_bytes', 'Decoded bytes streamed.', 'bytes'),
    counter('total_txns', 'Transactions decoded and sent.'),
    counter('total_bytes', 'Decoded bytes sent.', 'bytes'),
    statsReset,
  ],
  variants: [
    {
      when: () => true,
      source: 'pg_stat_replication_slots (PostgreSQL ≥ 14)',
      sql: `select slot_name::text, spill_txns, spill_count, spill_bytes, stream_txns, stream_count, stream_bytes,
                   total_txns, total_bytes, stats_reset
              from pg_stat_replication_slots`,
    },
  ],
}
