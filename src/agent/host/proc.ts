// Readers of the host's /proc files, each a pure parser over the file's text plus a small read.
// They return rows in the catalog's column names (src/collector/catalog/system.ts). Linux reports
// CPU times in USER_HZ ticks (100 per second on every mainstream architecture) and disk sectors
// in 512-byte units whatever the device's sector size.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cpuModes } from '../../collector/catalog/system.ts'

export type Row = Record<string, string | number | boolean | null>

const userHz = 100
const sectorBytes = 512

const numberAt = (fields: string[], index: number): number | null => {
  const value = fields[index]
  return value === undefined || value === '' ? null : Number(value)
}

/** CPU time by mode (the aggregate `cpu` line), and the counters of /proc/stat. */
export function parseStat(text: string) {
  const lines = text.split('\n')
  const fields = (name: string) =>
    lines
      .find((l) => l.startsWith(`${name} `))
      ?.trim()
      .split(/\s+/) ?? []
  const cpu = fields('cpu')
  const cpuRows: Row[] = cpuModes.map((mode, i) => ({ mode, seconds: (numberAt(cpu, i + 1) ?? 0) / userHz }))
  return {
    cpuRows,
    cpus: lines.filter((l) => /^cpu\d+ /.test(l)).length,
    contextSwitches: numberAt(fields('ctxt'), 1),
    interrupts: numberAt(fields('intr'), 1),
    forks: numberAt(fields('processes'), 1),
    procsRunning: numberAt(fields('procs_running'), 1),
    procsBlocked: numberAt(fields('procs_blocked'), 1),
  }
}

/** "0.12 0.08 0.01 2/311 4567": load averages and runnable/total threads. */
export function parseLoadavg(text: string) {
  const [l1, l5, l15, threads] = text.trim().split(/\s+/)
  return {
    load1: Number(l1),
    load5: Number(l5),
    load15: Number(l15),
    threads: Number(threads?.split('/')[1]),
  }
}

/** /proc/meminfo and /proc/vmstat as name → value (meminfo kB turned into bytes). */
export function parseKeyValues(text: string, unitKb: boolean): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z0-9_()]+):?\s+(\d+)(\s+kB)?/.exec(line)
    if (match) values.set(match[1] as string, Number(match[2]) * (unitKb && match[3] ? 1024 : 1))
  }
  return values
}

export function memoryRow(meminfo: Map<string, number>, vmstat: Map<string, number>): Row {
  const m = (name: string) => meminfo.get(name) ?? null
  const v = (name: string) => vmstat.get(name) ?? null
  return {
    total_bytes: m('MemTotal'),
    free_bytes: m('MemFree'),
    available_bytes: m('MemAvailable'),
    buffers_bytes: m('Buffers'),
    cached_bytes: m('Cached'),
    shmem_bytes: m('Shmem'),
    slab_reclaimable_bytes: m('SReclaimable'),
    dirty_bytes: m('Dirty'),
    writeback_bytes: m('Writeback'),
    committed_bytes: m('Committed_AS'),
    commit_limit_bytes: m('CommitLimit'),
    swap_total_bytes: m('SwapTotal'),
    swap_free_bytes: m('SwapFree'),
    swap_cached_bytes: m('SwapCached'),
    hugepages: m('HugePages_Total'),
    hugepages_free: m('HugePages_Free'),
    hugepage_size_bytes: m('Hugepagesize'),
    swap_in: v('pswpin'),
    swap_out: v('pswpout'),
    major_faults: v('pgmajfault'),
    oom_kills: v('oom_kill'),
  }
}

const virtualDisk = /^(loop|ram|zram|fd|sr|nbd)\d+$/
const partitionName = /^((sd|vd|xvd|hd)[a-z]+\d+|nvme\d+n\d+p\d+|mmcblk\d+p\d+)$/

/** One row per whole block device. `wholeDevices`: names under /sys/block, when readable. */
export function parseDiskstats(text: string, wholeDevices: Set<string> | null): Row[] {
  const rows: Row[] = []
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/)
    const device = f[2]
    if (!device || f.length < 14 || virtualDisk.test(device)) continue
    if (wholeDevices ? !wholeDevices.has(device) : partitionName.test(device)) continue
    const n = (i: number) => numberAt(f, i)
    rows.push({
      device,
      reads: n(3),
      reads_merged: n(4),
      read_bytes: (n(5) ?? 0) * sectorBytes,
      read_time: n(6),
      writes: n(7),
      writes_merged: n(8),
      write_bytes: (n(9) ?? 0) * sectorBytes,
      write_time: n(10),
      io_in_progress: n(11),
      io_time: n(12),
      weighted_io_time: n(13),
      discards: n(14),
      flushes: n(18),
    })
  }
  return rows
}

/** One row per interface of /proc/net/dev, loopback left out. */
export function parseNetDev(text: string): Row[] {
  const rows: Row[] = []
  for (const line of text.split('\n').slice(2)) {
    const [name, rest] = line.split(':')
    const iface = name?.trim()
    if (!iface || rest === undefined || iface === 'lo') continue
    const f = rest.trim().split(/\s+/).map(Number)
    rows.push({
      interface: iface,
      receive_bytes: f[0] ?? null,
      receive_packets: f[1] ?? null,
      receive_errors: f[2] ?? null,
      receive_drops: f[3] ?? null,
      transmit_bytes: f[8] ?? null,
      transmit_packets: f[9] ?? null,
      transmit_errors: f[10] ?? null,
      transmit_drops: f[11] ?? null,
    })
  }
  return rows
}

const read = (procfs: string, file: string) => readFile(join(procfs, file), 'utf8')

/** CPU by mode and the load row (load averages, processes, counters, uptime). */
export async function readCpuAndLoad(procfs: string): Promise<{ cpu: Row[]; load: Row }> {
  const [stat, loadavg, uptime, entries] = await Promise.all([
    read(procfs, 'stat'),
    read(procfs, 'loadavg'),
    read(procfs, 'uptime'),
    readdir(procfs),
  ])
  const s = parseStat(stat)
  const l = parseLoadavg(loadavg)
  return {
    cpu: s.cpuRows,
    load: {
      cpus: s.cpus,
      load1: l.load1,
      load5: l.load5,
      load15: l.load15,
      processes: entries.filter((e) => /^\d+$/.test(e)).length,
      threads: Number.isFinite(l.threads) ? l.threads : null,
      procs_running: s.procsRunning,
      procs_blocked: s.procsBlocked,
      context_switches: s.contextSwitches,
      interrupts: s.interrupts,
      forks: s.forks,
      uptime_seconds: Number(uptime.trim().split(/\s+/)[0]),
    },
  }
}

export async function readMemory(procfs: string): Promise<Row> {
  const [meminfo, vmstat] = await Promise.all([read(procfs, 'meminfo'), read(procfs, 'vmstat')])
  return memoryRow(parseKeyValues(meminfo, true), parseKeyValues(vmstat, false))
}

export async function readDisks(procfs: string, sysfs: string): Promise<Row[]> {
  const whole = await readdir(join(sysfs, 'block')).then(
    (names) => new Set(names),
    () => null,
  )
  return parseDiskstats(await read(procfs, 'diskstats'), whole)
}

export async function readNetwork(procfs: string): Promise<Row[]> {
  return parseNetDev(await read(procfs, 'net/dev'))
}
