// Alerts on the database hosts' CPU, memory, disks and network, from the metrics
// `pganalytics agent` pushes: busy CPU, iowait, steal, load, memory, swap, OOM kills, saturated or
// slow disks, network errors.
import { type AlertDefinition, type AlertGroup, bad, good, series } from '../types.ts'

const disk = { device: 'nvme1n1' }
const eth = { interface: 'eth0' }

/** CPU time series of one host: seconds per minute in each mode. */
const cpu = (labels: Record<string, string>, perMinute: Record<string, number>) =>
  Object.entries(perMinute).map(([mode, seconds]) =>
    series('pga_system_cpu_seconds_total', { ...labels, mode }, `0+${seconds}x40`),
  )

const cpuShare = (
  alert: string,
  mode: string,
  limit: number,
  summary: string,
  cause: string,
  runbook: string[],
) =>
  ({
    alert,
    expr: `sum by (instance, instance_id) (rate(pga_system_cpu_seconds_total{mode="${mode}"}[5m]))
  / sum by (instance, instance_id) (rate(pga_system_cpu_seconds_total[5m])) > ${limit}`,
    for: '15m',
    severity: 'warning',
    summary,
    description: `{{ $value | humanizePercentage }} of CPU time on the host of {{ $labels.instance }} is ${mode}.`,
    cause,
    runbook,
    test: {
      at: '35m',
      fires: cpu(bad, { [mode]: 36, idle: 84 }),
      silent: cpu(good, { [mode]: 6, idle: 114 }),
      labels: bad,
      value: 0.3,
    },
  }) satisfies AlertDefinition

export const machineAlerts: AlertGroup = {
  name: 'postgresql-host-machine',
  title: 'Host CPU, memory, disks and network (pganalytics agent)',
  intro:
    'From the host groups the agent pushes (`system_*` in `/metrics/instances`); silent for instances without an agent.',
  alerts: machineAlertList(),
}

function machineAlertList(): AlertDefinition[] {
  return [
    {
      alert: 'HostCpuBusy',
      expr: `1 - sum by (instance, instance_id) (rate(pga_system_cpu_seconds_total{mode="idle"}[5m]))
  / sum by (instance, instance_id) (rate(pga_system_cpu_seconds_total[5m])) > 0.9`,
      for: '15m',
      severity: 'warning',
      summary: 'The host of {{ $labels.instance }} is CPU-bound',
      description:
        'The host of {{ $labels.instance }} has been {{ $value | humanizePercentage }} busy for 15 minutes.',
      cause: 'Expensive queries, too many active sessions, or something else on the host.',
      runbook: [
        'Query performance dashboard: execution time per second by statement; activity: active sessions.',
      ],
      test: {
        at: '35m',
        fires: cpu(bad, { user: 114, idle: 6 }),
        silent: cpu(good, { user: 60, idle: 60 }),
        labels: bad,
        value: 0.95,
      },
    },
    cpuShare(
      'HostIowaitHigh',
      'iowait',
      0.2,
      'The host of {{ $labels.instance }} waits on disk',
      'Reads that miss the caches or writes faster than the storage takes them.',
      ['Host dashboard: disk utilisation and latency; query performance: top statements by I/O.'],
    ),
    cpuShare(
      'HostCpuStealHigh',
      'steal',
      0.1,
      'The hypervisor takes CPU from the host of {{ $labels.instance }}',
      'Other virtual machines on the same hypervisor, or a burstable instance out of credits.',
      ['Move to dedicated or larger instances; check the cloud provider’s CPU credit balance.'],
    ),
    {
      alert: 'HostLoadHigh',
      expr: 'pga_system_load_load5 / pga_system_load_cpus > 2',
      for: '15m',
      severity: 'warning',
      summary: 'Load on the host of {{ $labels.instance }} is twice its CPUs',
      description:
        'The 5-minute load average per CPU on the host of {{ $labels.instance }} is {{ $value | humanize }}.',
      cause: 'More runnable or I/O-blocked threads than CPUs: overload or disk waits.',
      runbook: ['Split CPU from I/O with "Load and CPUs" (blocked on I/O) and "CPU by mode".'],
      test: {
        fires: [series('pga_system_load_load5', bad, '10x30'), series('pga_system_load_cpus', bad, '4x30')],
        silent: [series('pga_system_load_load5', good, '1x30'), series('pga_system_load_cpus', good, '4x30')],
        labels: bad,
        value: 2.5,
      },
    },
    {
      alert: 'HostMemoryLow',
      expr: 'pga_system_memory_available_bytes / pga_system_memory_total_bytes < 0.1',
      for: '10m',
      severity: 'warning',
      summary: 'The host of {{ $labels.instance }} is low on memory',
      description:
        'Only {{ $value | humanizePercentage }} of memory is available on the host of {{ $labels.instance }}: the page cache shrinks, then the OOM killer acts.',
      cause:
        'work_mem × sorts × sessions, too many connections, shared_buffers too large for the host, or another process.',
      runbook: ['Memory panel: used vs page cache; fewer connections (pooler) or lower work_mem.'],
      test: {
        fires: [
          series('pga_system_memory_available_bytes', bad, '1e9x30'),
          series('pga_system_memory_total_bytes', bad, '1.6e10x30'),
        ],
        silent: [
          series('pga_system_memory_available_bytes', good, '8e9x30'),
          series('pga_system_memory_total_bytes', good, '1.6e10x30'),
        ],
        labels: bad,
        value: 0.0625,
      },
    },
    {
      alert: 'HostSwapping',
      expr: 'rate(pga_system_memory_swap_in_total[5m]) + rate(pga_system_memory_swap_out_total[5m]) > 100',
      for: '10m',
      severity: 'warning',
      summary: 'The host of {{ $labels.instance }} is swapping',
      description:
        '{{ $value | humanize }} pages per second move to and from swap on the host of {{ $labels.instance }}: latency suffers.',
      cause: 'Memory pressure (see HostMemoryLow).',
      runbook: ['Reduce memory use; on dedicated database hosts set vm.swappiness low (1-10).'],
      test: {
        fires: [
          series('pga_system_memory_swap_in_total', bad, '0+6000x30'),
          series('pga_system_memory_swap_out_total', bad, '0+6000x30'),
        ],
        silent: [
          series('pga_system_memory_swap_in_total', good, '0x30'),
          series('pga_system_memory_swap_out_total', good, '0x30'),
        ],
        labels: bad,
        value: 200,
      },
    },
    {
      alert: 'HostOomKill',
      expr: 'increase(pga_system_memory_oom_kills_total[10m]) > 0',
      severity: 'critical',
      summary: 'The OOM killer acted on the host of {{ $labels.instance }}',
      description:
        'A process was killed for lack of memory on the host of {{ $labels.instance }}; if it was a PostgreSQL backend, the server restarted all sessions.',
      cause: 'Memory exhausted; with vm.overcommit_memory=0 the kernel picks a victim.',
      runbook: [
        '`dmesg | grep -i "killed process"` names it.',
        'Set vm.overcommit_memory=2 with a suitable overcommit ratio on database hosts so allocations fail instead.',
      ],
      test: {
        at: '15m',
        fires: [series('pga_system_memory_oom_kills_total', bad, '0x10 1x20')],
        silent: [series('pga_system_memory_oom_kills_total', good, '0x30')],
        labels: bad,
        value: 1,
      },
    },
    {
      alert: 'HostDiskSaturated',
      expr: 'rate(pga_system_disk_io_time_seconds_total[5m]) > 0.9',
      for: '15m',
      severity: 'warning',
      summary: 'Disk {{ $labels.device }} on the host of {{ $labels.instance }} is saturated',
      description:
        'Disk {{ $labels.device }} had I/O in flight {{ $value | humanizePercentage }} of the time.',
      cause: 'More I/O than the device serves; for SSDs with deep queues, check latency too.',
      runbook: ['Disk latency and IOPS panels; top statements by I/O.'],
      test: {
        at: '35m',
        fires: [series('pga_system_disk_io_time_seconds_total', { ...bad, ...disk }, '0+57x40')],
        silent: [series('pga_system_disk_io_time_seconds_total', { ...good, ...disk }, '0+6x40')],
        labels: { ...bad, ...disk },
        value: 0.95,
      },
    },
    {
      alert: 'HostDiskLatencyHigh',
      expr: `(rate(pga_system_disk_read_time_seconds_total[5m]) + rate(pga_system_disk_write_time_seconds_total[5m]))
  / (rate(pga_system_disk_reads_total[5m]) + rate(pga_system_disk_writes_total[5m])) > 0.05
and rate(pga_system_disk_reads_total[5m]) + rate(pga_system_disk_writes_total[5m]) > 10`,
      for: '15m',
      severity: 'warning',
      summary: 'Disk {{ $labels.device }} on the host of {{ $labels.instance }} is slow',
      description: 'I/Os on {{ $labels.device }} take {{ $value | humanizeDuration }} on average.',
      cause: 'Saturated or throttled storage (cloud volume limits), a failing device.',
      runbook: ['Compare with the volume’s provisioned IOPS and throughput; `smartctl -a` for a local disk.'],
      test: {
        at: '35m',
        fires: [
          series('pga_system_disk_read_time_seconds_total', { ...bad, ...disk }, '0+60x40'),
          series('pga_system_disk_write_time_seconds_total', { ...bad, ...disk }, '0+6x40'),
          series('pga_system_disk_reads_total', { ...bad, ...disk }, '0+600x40'),
          series('pga_system_disk_writes_total', { ...bad, ...disk }, '0+60x40'),
        ],
        silent: [
          series('pga_system_disk_read_time_seconds_total', { ...good, ...disk }, '0+0.6x40'),
          series('pga_system_disk_write_time_seconds_total', { ...good, ...disk }, '0+0.06x40'),
          series('pga_system_disk_reads_total', { ...good, ...disk }, '0+600x40'),
          series('pga_system_disk_writes_total', { ...good, ...disk }, '0+60x40'),
        ],
        labels: { ...bad, ...disk },
        value: 0.1,
      },
    },
    {
      alert: 'HostNetworkErrors',
      expr: 'rate(pga_system_network_receive_errors_total[5m]) + rate(pga_system_network_transmit_errors_total[5m]) > 1',
      for: '15m',
      severity: 'warning',
      summary: 'Network errors on {{ $labels.interface }} of the host of {{ $labels.instance }}',
      description: '{{ $value | humanize }} errors per second on {{ $labels.interface }}.',
      cause: 'A faulty cable, NIC or switch port, or a duplex/MTU mismatch.',
      runbook: ['`ip -s link show <interface>` and `ethtool -S <interface>` on the host.'],
      test: {
        at: '35m',
        fires: [
          series('pga_system_network_receive_errors_total', { ...bad, ...eth }, '0+120x40'),
          series('pga_system_network_transmit_errors_total', { ...bad, ...eth }, '0x40'),
        ],
        silent: [
          series('pga_system_network_receive_errors_total', { ...good, ...eth }, '0x40'),
          series('pga_system_network_transmit_errors_total', { ...good, ...eth }, '0x40'),
        ],
        labels: { ...bad, ...eth },
        value: 2,
      },
    },
  ]
}
