// One reading of the host: every host group at once, as a sample of the agent's push. A reader
// that fails (a file missing in a container, a permission) leaves its group out of the sample and
// is reported once per reason, never stopping the others.
import type { Logger } from '../platform/log.ts'
import { FilesystemProbe, readMounts } from './host/mounts.ts'
import { type Row, readCpuAndLoad, readDisks, readMemory, readNetwork } from './host/proc.ts'

export type Sample = { takenAt: string; durationMs: number; groups: Record<string, Row[]> }

export type SamplerOptions = {
  procfs: string
  sysfs: string
  rootfs: string
  dataDirectory?: string | undefined
  walDirectory?: string | undefined
}

export class HostSampler {
  private readonly probe: FilesystemProbe
  private readonly reported = new Set<string>()

  constructor(
    private readonly options: SamplerOptions,
    private readonly log: Logger,
  ) {
    this.probe = new FilesystemProbe(options.rootfs)
  }

  /** The PostgreSQL directories to watch: the data directory and the WAL (pg_wal by default). */
  private pgPaths(): { kind: string; path: string }[] {
    const { dataDirectory, walDirectory } = this.options
    const wal = walDirectory ?? (dataDirectory ? `${dataDirectory.replace(/\/+$/, '')}/pg_wal` : undefined)
    return [
      ...(dataDirectory ? [{ kind: 'data_directory', path: dataDirectory }] : []),
      ...(wal ? [{ kind: 'wal_directory', path: wal }] : []),
    ]
  }

  private async attempt<T>(what: string, read: () => Promise<T>): Promise<T | null> {
    try {
      return await read()
    } catch (error) {
      const reason = `${what}: ${(error as Error).message}`
      if (!this.reported.has(reason)) {
        this.reported.add(reason)
        this.log.warn('host reading failed; the group is left out of samples', { group: what, error: reason })
      }
      return null
    }
  }

  async sample(): Promise<Sample> {
    const started = performance.now()
    const takenAt = new Date().toISOString()
    const { procfs, sysfs } = this.options
    const [cpuLoad, memory, disks, network, mounts] = await Promise.all([
      this.attempt('system_cpu', () => readCpuAndLoad(procfs)),
      this.attempt('system_memory', () => readMemory(procfs)),
      this.attempt('system_disk', () => readDisks(procfs, sysfs)),
      this.attempt('system_network', () => readNetwork(procfs)),
      this.attempt('system_filesystem', () => readMounts(procfs)),
    ])
    const filesystems = mounts ? await this.probe.filesystems(mounts) : null
    const paths = this.pgPaths()
    const volumes = mounts && paths.length > 0 ? await this.probe.pgVolumes(mounts, paths) : null
    if (paths.length > 0 && volumes && volumes.length < paths.length)
      await this.attempt('system_pg_volume', async () => {
        throw new Error(`cannot read ${paths.map((p) => p.path).join(' or ')}`)
      })
    const groups: Record<string, Row[]> = {}
    if (cpuLoad) {
      groups.system_cpu = cpuLoad.cpu
      groups.system_load = [cpuLoad.load]
    }
    if (memory) groups.system_memory = [memory]
    if (disks) groups.system_disk = disks
    if (network) groups.system_network = network
    if (filesystems) groups.system_filesystem = filesystems
    if (volumes && volumes.length > 0) groups.system_pg_volume = volumes
    return { takenAt, durationMs: Math.round((performance.now() - started) * 1000) / 1000, groups }
  }
}
