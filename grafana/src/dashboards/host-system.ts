// Host system, from `pganalytics agent` on the database host: CPU by mode, load, memory and swap,
// disk throughput, IOPS, utilisation and latency, filesystems and the PostgreSQL volumes,
// network, processes, and the agent itself.
import { Board, type DashboardDefinition } from '../board.ts'
import { inRange, instanceIs, lastPerInterval, rated } from '../sql.ts'
import { instanceVariable } from '../variables.ts'

const disk = (counters: string[]) => rated({ table: 'sn_sysstat_disk', keys: ['device'], counters })
const network = (counters: string[]) => rated({ table: 'sn_sysstat_network', keys: ['interface'], counters })
const gauges = (table: string, keys: string[], columns: string[], select: string) =>
  `with ${lastPerInterval({ table, keys, columns })}
select to_timestamp(bucket) as time, ${select}
  from samples where to_timestamp(bucket) >= $__timeFrom()::timestamptz order by 1`

const latestOf = (group: string) => `with latest as (
  select snap_id, taken_at from sn_stat_snapshot
   where ${instanceIs()} and group_name = '${group}' and status = 'ok' and $__timeFilter(taken_at)
   order by taken_at desc limit 1)`

const volumesAndAgent = (board: Board): Board =>
  board
    .barGauge('PostgreSQL volumes used', {
      description:
        'Share of the volumes holding the data directory and the WAL that is used (agent --data-directory).',
      sql: `${latestOf('system_pg_volume')}
select v.kind || ' (' || coalesce(v.mountpoint, v.path) || ')' as volume,
       v.used_bytes::float8 / nullif(v.used_bytes + v.avail_bytes, 0) as used
  from sn_sysstat_pg_volume v join latest l on l.snap_id = v.snap_id and l.taken_at = v.taken_at order by 1`,
      unit: 'percentunit',
      min: 0,
      max: 1,
      thresholds: [
        [0.8, 'orange'],
        [0.9, 'red'],
      ],
      width: 12,
      height: 5,
    })
    .table('Agent', {
      description:
        'The agent pushing for this instance: host, version, last push, batches and samples received.',
      sql: `select hostname as host, version, first_seen as "first seen", last_seen as "last push",
                     extract(epoch from now() - last_seen) as "seconds ago", batches, samples
                from pga_agent_streams where ${instanceIs()} order by last_seen desc`,
      width: 12,
      height: 5,
      fieldUnits: { 'seconds ago': 's' },
    })

const cpuAndMemory = (board: Board): Board =>
  board
    .row('CPU and memory')
    .timeseries('CPU by mode', {
      description:
        'Share of CPU time by mode, all CPUs together (iowait: idle while waiting for disk; steal: taken by the hypervisor).',
      sql: `${rated({ table: 'sn_sysstat_cpu', keys: ['mode'], counters: ['seconds'] })}
select time, mode as metric, share as value
  from (select time, mode, seconds / nullif(sum(seconds) over (partition by time), 0) as share
          from rated where ${inRange()}) shares
 where mode <> 'idle' order by time`,
      unit: 'percentunit',
      stack: true,
      max: 1,
    })
    .timeseries('Load and CPUs', {
      description: 'Load averages against the number of CPUs; processes runnable and blocked on I/O.',
      sql: gauges(
        'sn_sysstat_load',
        [],
        ['load1', 'load5', 'load15', 'cpus', 'procs_running', 'procs_blocked'],
        `load1, load5, load15, cpus, procs_running as runnable, procs_blocked as "blocked on I/O"`,
      ),
    })
    .timeseries('Memory', {
      description:
        'Memory used by processes (total − available), page cache, shared memory (shared_buffers), free; available is what new work can use.',
      sql: gauges(
        'sn_sysstat_memory',
        [],
        ['total_bytes', 'available_bytes', 'cached_bytes', 'shmem_bytes', 'free_bytes', 'dirty_bytes'],
        `total_bytes - available_bytes as used, cached_bytes as "page cache", shmem_bytes as shared,
       free_bytes as free, available_bytes as available, dirty_bytes as dirty`,
      ),
      unit: 'bytes',
    })
    .timeseries('Swap and page faults', {
      description:
        'Pages swapped in and out and major page faults per second; swap activity on a database host hurts latency.',
      sql: `${rated({ table: 'sn_sysstat_memory', keys: [], counters: ['swap_in', 'swap_out', 'major_faults', 'oom_kills'], columns: ['swap_total_bytes', 'swap_free_bytes'] })}
select time, swap_in as "swapped in", swap_out as "swapped out", major_faults as "major faults", oom_kills * 60 as "OOM kills/min"
  from rated where ${inRange()} order by time`,
    })

const disks = (board: Board): Board =>
  board
    .row('Disks')
    .timeseries('Disk throughput', {
      description: 'Bytes read and written per second, per device.',
      sql: `${disk(['read_bytes', 'write_bytes'])}
select time, device || ' read' as metric, read_bytes as value from rated where ${inRange()}
union all
select time, device || ' write', write_bytes from rated where ${inRange()} order by 1`,
      unit: 'Bps',
    })
    .timeseries('Disk IOPS', {
      description: 'Reads and writes completed per second, per device.',
      sql: `${disk(['reads', 'writes'])}
select time, device || ' reads' as metric, reads as value from rated where ${inRange()}
union all
select time, device || ' writes', writes from rated where ${inRange()} order by 1`,
      unit: 'iops',
    })
    .timeseries('Disk utilisation', {
      description:
        'Share of time each device had I/O in flight (near 100 %: saturated, for a single-queue device).',
      sql: `${disk(['io_time'])}
select time, device as metric, io_time / 1000 as value from rated where ${inRange()} order by time`,
      unit: 'percentunit',
      max: 1,
    })
    .timeseries('Disk latency', {
      description: 'Average time per read and per write, per device.',
      sql: `${disk(['reads', 'writes', 'read_time', 'write_time'])}
select time, device || ' read' as metric, read_time / nullif(reads, 0) as value from rated where ${inRange()}
union all
select time, device || ' write', write_time / nullif(writes, 0) from rated where ${inRange()} order by 1`,
      unit: 'ms',
    })

const filesystems = (board: Board): Board =>
  board
    .row('Filesystems')
    .table('Filesystems', {
      description: 'Mounted filesystems at the last sample: space and inodes, read-only flag.',
      sql: `${latestOf('system_filesystem')}
select f.mountpoint, f.device, f.fstype, f.size_bytes as size, f.used_bytes as used, f.avail_bytes as available,
       f.used_bytes::float8 / nullif(f.used_bytes + f.avail_bytes, 0) as "used share",
       1 - f.files_free::float8 / nullif(f.files, 0) as "inodes used", f.readonly as "read-only"
  from sn_sysstat_filesystem f join latest l on l.snap_id = f.snap_id and l.taken_at = f.taken_at
 order by "used share" desc nulls last`,
      height: 7,
      fieldUnits: {
        size: 'bytes',
        used: 'bytes',
        available: 'bytes',
        'used share': 'percentunit',
        'inodes used': 'percentunit',
      },
    })
    .timeseries('Space available', {
      description: 'Space available to PostgreSQL per filesystem.',
      sql: gauges(
        'sn_sysstat_filesystem',
        ['mountpoint'],
        ['avail_bytes'],
        'mountpoint as metric, avail_bytes as value',
      ),
      unit: 'bytes',
    })
    .timeseries('PostgreSQL volumes', {
      description: 'Space available on the volumes of the data directory and the WAL.',
      sql: gauges('sn_sysstat_pg_volume', ['kind'], ['avail_bytes'], 'kind as metric, avail_bytes as value'),
      unit: 'bytes',
    })

const networkAndProcesses = (board: Board): Board =>
  board
    .row('Network and processes')
    .timeseries('Network traffic', {
      description: 'Bytes received and sent per second, per interface.',
      sql: `${network(['receive_bytes', 'transmit_bytes'])}
select time, interface || ' in' as metric, receive_bytes as value from rated where ${inRange()}
union all
select time, interface || ' out', transmit_bytes from rated where ${inRange()} order by 1`,
      unit: 'Bps',
    })
    .timeseries('Network errors and drops', {
      description: 'Errors and dropped packets per second, per interface and direction.',
      sql: `${network(['receive_errors', 'receive_drops', 'transmit_errors', 'transmit_drops'])}
select time, interface as metric, coalesce(receive_errors, 0) + coalesce(receive_drops, 0) + coalesce(transmit_errors, 0)
       + coalesce(transmit_drops, 0) as value
  from rated where ${inRange()} order by time`,
      unit: 'pps',
    })
    .timeseries('Processes', {
      description: 'Processes and threads on the host; forks and context switches per second.',
      sql: `${rated({ table: 'sn_sysstat_load', keys: [], counters: ['forks', 'context_switches'], columns: ['processes', 'threads'] })}
select time, processes, threads, forks as "forks/s", context_switches / 1000 as "context switches (k/s)"
  from rated where ${inRange()} order by time`,
    })

export const hostSystem: DashboardDefinition = {
  file: 'host-system.json',
  answers:
    'Is the database host short of CPU, memory, disk bandwidth or space, or network; are the data directory and WAL volumes filling up?',
  build: () =>
    [volumesAndAgent, cpuAndMemory, disks, filesystems, networkAndProcesses].reduce(
      (board, part) => part(board),
      new Board({
        uid: 'pga-host-system',
        title: 'pganalytics / Host system',
        description:
          'The database host, from pganalytics agent: CPU, load, memory, swap, disks, filesystems, network.',
        variables: [instanceVariable()],
      }),
    ),
}
