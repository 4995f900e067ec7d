// Host groups, pushed by `pganalytics agent` from the database host (src/agent) rather than
// collected over SQL: CPU time by mode, load and processes, memory and swap, disk I/O per device,
// filesystem space and inodes per mount, network per interface, and the volumes holding the
// PostgreSQL data directory and WAL. Same shape as the SQL groups (canonical columns, a sn_*
// table partitioned by day, retention), so the read API, the exposition and the dashboards treat
// them alike. Durations are in ms like every other group's, but CPU time by mode is in seconds.
import { counter, gauge, key, label } from './columns.ts'
import type { MetricGroup } from './types.ts'

const agentGroup: Pick<
  MetricGroup,
  'scope' | 'defaultIntervalSeconds' | 'defaultRetentionDays' | 'privileges' | 'variants'
> = {
  scope: 'instance',
  defaultIntervalSeconds: 15,
  defaultRetentionDays: 30,
  privileges:
    'None on the database: the agent reads /proc and statfs on the host and pushes with an agent key.',
  variants: [],
}

export const cpuModes = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const

export const systemCpu: MetricGroup = {
  ...agentGroup,
  name: 'system_cpu',
  table: 'sn_sysstat_cpu',
  agentSource: '/proc/stat (all CPUs together)',
  help: 'CPU time of the host by mode (user, nice, system, idle, iowait, irq, softirq, steal), all CPUs together.',
  columns: [
    key('mode', 'text', `CPU mode: ${cpuModes.join(', ')}.`),
    // Seconds, not ms: exported as pga_system_cpu_seconds_total{mode}, like node_cpu_seconds_total.
    {
      name: 'seconds',
      type: 'double precision',
      kind: 'counter',
      unit: 'seconds',
      help: 'CPU time spent in this mode, summed over all CPUs.',
    },
  ],
}

export const systemLoad: MetricGroup = {
  ...agentGroup,
  name: 'system_load',
  table: 'sn_sysstat_load',
  agentSource: '/proc/loadavg, /proc/stat, /proc/uptime, /proc',
  help: 'Load averages, CPUs, processes and threads, context switches, interrupts and forks, uptime.',
  columns: [
    gauge('cpus', 'integer', 'Online CPUs.'),
    gauge('load1', 'double precision', 'Load average over 1 minute.'),
    gauge('load5', 'double precision', 'Load average over 5 minutes.'),
    gauge('load15', 'double precision', 'Load average over 15 minutes.'),
    gauge('processes', 'integer', 'Processes on the host.'),
    gauge('threads', 'integer', 'Threads (scheduling entities) on the host.'),
    gauge('procs_running', 'integer', 'Threads runnable now.'),
    gauge('procs_blocked', 'integer', 'Threads blocked on I/O now.'),
    counter('context_switches', 'Context switches.'),
    counter('interrupts', 'Interrupts serviced.'),
    counter('forks', 'Processes and threads created.'),
    gauge('uptime_seconds', 'double precision', 'Seconds since boot.', 'seconds'),
  ],
}

export const systemMemory: MetricGroup = {
  ...agentGroup,
  name: 'system_memory',
  table: 'sn_sysstat_memory',
  agentSource: '/proc/meminfo, /proc/vmstat',
  help: 'Memory and swap: total, available, page cache, dirty, commit, huge pages; swap and page-fault activity, OOM kills.',
  columns: [
    gauge('total_bytes', 'bigint', 'Physical memory.', 'bytes'),
    gauge('free_bytes', 'bigint', 'Unused memory (MemFree).', 'bytes'),
    gauge(
      'available_bytes',
      'bigint',
      'Memory available for new work without swapping (MemAvailable).',
      'bytes',
    ),
    gauge('buffers_bytes', 'bigint', 'Block device buffers.', 'bytes'),
    gauge('cached_bytes', 'bigint', 'Page cache (PostgreSQL relies on it).', 'bytes'),
    gauge('shmem_bytes', 'bigint', 'Shared memory, including PostgreSQL shared_buffers.', 'bytes'),
    gauge('slab_reclaimable_bytes', 'bigint', 'Kernel slab that can be reclaimed.', 'bytes'),
    gauge('dirty_bytes', 'bigint', 'Pages waiting to be written to disk.', 'bytes'),
    gauge('writeback_bytes', 'bigint', 'Pages being written to disk now.', 'bytes'),
    gauge('committed_bytes', 'bigint', 'Memory promised to processes (Committed_AS).', 'bytes'),
    gauge('commit_limit_bytes', 'bigint', 'Commit limit under vm.overcommit_memory=2.', 'bytes'),
    gauge('swap_total_bytes', 'bigint', 'Swap space.', 'bytes'),
    gauge('swap_free_bytes', 'bigint', 'Unused swap space.', 'bytes'),
    gauge('swap_cached_bytes', 'bigint', 'Swapped-out memory also still in memory.', 'bytes'),
    gauge('hugepages', 'bigint', 'Huge pages reserved (huge_pages=on needs shared_buffers in them).'),
    gauge('hugepages_free', 'bigint', 'Huge pages not in use.'),
    gauge('hugepage_size_bytes', 'bigint', 'Size of one huge page.', 'bytes'),
    counter('swap_in', 'Pages swapped in.'),
    counter('swap_out', 'Pages swapped out.'),
    counter('major_faults', 'Page faults that needed disk I/O.'),
    counter('oom_kills', 'Processes killed by the out-of-memory killer (null before Linux 4.13).'),
  ],
}

export const systemDisk: MetricGroup = {
  ...agentGroup,
  name: 'system_disk',
  table: 'sn_sysstat_disk',
  agentSource: '/proc/diskstats (whole devices from /sys/block; loop, ram and zram devices left out)',
  help: 'Disk I/O per block device: operations, bytes, time reading and writing, busy time, queue.',
  columns: [
    key('device', 'text', 'Block device (sda, nvme0n1, dm-0, ...).'),
    counter('reads', 'Reads completed.'),
    counter('reads_merged', 'Adjacent reads merged.'),
    counter('read_bytes', 'Bytes read.', 'bytes'),
    counter('read_time', 'Time spent reading.', 'ms'),
    counter('writes', 'Writes completed.'),
    counter('writes_merged', 'Adjacent writes merged.'),
    counter('write_bytes', 'Bytes written.', 'bytes'),
    counter('write_time', 'Time spent writing.', 'ms'),
    gauge('io_in_progress', 'bigint', 'I/Os in flight now.'),
    counter('io_time', 'Time the device had I/O in flight (its rate is utilisation).', 'ms'),
    counter('weighted_io_time', 'I/O time weighted by I/Os in flight (its rate is the average queue).', 'ms'),
    counter('discards', 'Discards completed (null before Linux 4.18).'),
    counter('flushes', 'Flush requests completed (null before Linux 5.5).'),
  ],
}

export const systemFilesystem: MetricGroup = {
  ...agentGroup,
  name: 'system_filesystem',
  table: 'sn_sysstat_filesystem',
  agentSource:
    '/proc/self/mounts, statfs (pseudo filesystems and /dev, /proc, /sys, /run/credentials left out)',
  help: 'Space and inodes per mounted filesystem, and whether it is read-only.',
  columns: [
    key('mountpoint', 'text', 'Where it is mounted.'),
    label('device', 'text', 'Device or source.'),
    label('fstype', 'text', 'Filesystem type.'),
    gauge('size_bytes', 'bigint', 'Size.', 'bytes'),
    gauge('free_bytes', 'bigint', 'Free, including blocks reserved for root.', 'bytes'),
    gauge('avail_bytes', 'bigint', 'Available to unprivileged users (PostgreSQL).', 'bytes'),
    gauge('used_bytes', 'bigint', 'Used (size − free).', 'bytes'),
    gauge('files', 'bigint', 'Inodes.'),
    gauge('files_free', 'bigint', 'Free inodes.'),
    gauge(
      'readonly',
      'boolean',
      'Mounted read-only (a filesystem remounted read-only after errors stops PostgreSQL).',
    ),
  ],
}

export const systemNetwork: MetricGroup = {
  ...agentGroup,
  name: 'system_network',
  table: 'sn_sysstat_network',
  agentSource: '/proc/net/dev (loopback left out)',
  help: 'Network traffic per interface: bytes, packets, errors and drops each way.',
  columns: [
    key('interface', 'text', 'Network interface.'),
    counter('receive_bytes', 'Bytes received.', 'bytes'),
    counter('receive_packets', 'Packets received.'),
    counter('receive_errors', 'Receive errors.'),
    counter('receive_drops', 'Received packets dropped.'),
    counter('transmit_bytes', 'Bytes sent.', 'bytes'),
    counter('transmit_packets', 'Packets sent.'),
    counter('transmit_errors', 'Transmit errors.'),
    counter('transmit_drops', 'Packets dropped on sending.'),
  ],
}

export const systemPgVolume: MetricGroup = {
  ...agentGroup,
  name: 'system_pg_volume',
  table: 'sn_sysstat_pg_volume',
  agentSource: 'statfs of the paths given with --data-directory and --wal-directory',
  help: 'The volumes holding the PostgreSQL data directory and the WAL (pg_wal): space and inodes left.',
  columns: [
    key('kind', 'text', 'data_directory or wal_directory.'),
    label('path', 'text', 'The directory (symbolic links resolved).'),
    label('mountpoint', 'text', 'Mount point of the volume holding it.'),
    label('device', 'text', 'Device of that volume.'),
    gauge('size_bytes', 'bigint', 'Volume size.', 'bytes'),
    gauge('avail_bytes', 'bigint', 'Available to PostgreSQL.', 'bytes'),
    gauge('used_bytes', 'bigint', 'Used.', 'bytes'),
    gauge('files', 'bigint', 'Inodes.'),
    gauge('files_free', 'bigint', 'Free inodes.'),
  ],
}

/** Every group the agent pushes. */
export const systemGroups: readonly MetricGroup[] = [
  systemCpu,
  systemLoad,
  systemMemory,
  systemDisk,
  systemFilesystem,
  systemNetwork,
  systemPgVolume,
]
