// Filesystems of the host: the mount table, statfs per mount point (space, inodes), and the
// volumes holding the PostgreSQL data directory and WAL. A statfs that hangs (a dead NFS server)
// is given up after a few seconds and that mount is skipped until the call returns, so one stuck
// mount never stalls the agent. Pseudo filesystems and the kernel's own trees are left out.
import { readFile, realpath, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import type { Row } from './proc.ts'

export type Mount = { device: string; mountpoint: string; fstype: string; readonly: boolean }

const pseudoTypes = new Set(
  'autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs efivarfs fusectl hugetlbfs iso9660 mqueue nsfs overlay proc procfs pstore rpc_pipefs securityfs selinuxfs squashfs erofs sysfs tracefs ramfs'.split(
    ' ',
  ),
)
const kernelTrees =
  /^\/(dev|proc|sys|run\/credentials\/.+|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/

/** "\040" in /proc mounts is a space (octal escapes). */
const unescapeMount = (text: string) =>
  text.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(Number.parseInt(octal, 8)))

/** Real filesystems from a mounts file, one per mount point (the last mount over it wins). */
export function parseMounts(text: string): Mount[] {
  const byMountpoint = new Map<string, Mount>()
  for (const line of text.split('\n')) {
    const [device, mountpoint, fstype, options] = line.split(' ')
    if (!device || !mountpoint || !fstype || pseudoTypes.has(fstype)) continue
    const point = unescapeMount(mountpoint)
    if (kernelTrees.test(point)) continue
    byMountpoint.set(point, {
      device: unescapeMount(device),
      mountpoint: point,
      fstype,
      readonly: (options ?? '').split(',').includes('ro'),
    })
  }
  return [...byMountpoint.values()]
}

export async function readMounts(procfs: string): Promise<Mount[]> {
  // The host's table as its init sees it (also right inside a container given the host's /proc).
  const text = await readFile(join(procfs, '1/mounts'), 'utf8').catch(() =>
    readFile(join(procfs, 'self/mounts'), 'utf8'),
  )
  return parseMounts(text)
}

type Space = { size: number; free: number; avail: number; files: number; filesFree: number }

/** statfs with a deadline; mounts whose call is still running are skipped. */
export class FilesystemProbe {
  private readonly stuck = new Set<string>()

  constructor(
    private readonly rootfs: string,
    private readonly timeoutMs = 5000,
  ) {}

  async space(path: string): Promise<Space | null> {
    if (this.stuck.has(path)) return null
    this.stuck.add(path)
    const call = statfs(join(this.rootfs, path)).finally(() => this.stuck.delete(path))
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.timeoutMs)
    })
    try {
      const s = await Promise.race([call, timeout])
      if (!s) return null
      // Counts are in fragment-size units where the runtime reports it (Bun), else bsize (Node).
      const unit = (s as { frsize?: number }).frsize || s.bsize
      return {
        size: s.blocks * unit,
        free: s.bfree * unit,
        avail: s.bavail * unit,
        files: s.files,
        filesFree: s.ffree,
      }
    } catch {
      return null
    } finally {
      clearTimeout(timer)
    }
  }

  /** Space and inodes of every real filesystem. */
  async filesystems(mounts: Mount[]): Promise<Row[]> {
    const rows = await Promise.all(
      mounts.map(async (m) => {
        const s = await this.space(m.mountpoint)
        if (!s || s.size === 0) return null
        return {
          mountpoint: m.mountpoint,
          device: m.device,
          fstype: m.fstype,
          size_bytes: s.size,
          free_bytes: s.free,
          avail_bytes: s.avail,
          used_bytes: s.size - s.free,
          files: s.files,
          files_free: s.filesFree,
          readonly: m.readonly,
        } satisfies Row
      }),
    )
    return rows.filter((r) => r !== null)
  }

  /** The volume holding each given PostgreSQL directory (symbolic links such as pg_wal resolved). */
  async pgVolumes(mounts: Mount[], paths: { kind: string; path: string }[]): Promise<Row[]> {
    const rows: Row[] = []
    for (const { kind, path } of paths) {
      const real = await realpath(join(this.rootfs, path)).catch(() => null)
      if (!real) continue
      const hostPath = this.rootfs === '/' ? real : `/${real.slice(this.rootfs.length).replace(/^\/+/, '')}`
      const mount = mountOf(mounts, hostPath)
      const s = await this.space(hostPath)
      if (!s) continue
      rows.push({
        kind,
        path: hostPath,
        mountpoint: mount?.mountpoint ?? null,
        device: mount?.device ?? null,
        size_bytes: s.size,
        avail_bytes: s.avail,
        used_bytes: s.size - s.free,
        files: s.files,
        files_free: s.filesFree,
      })
    }
    return rows
  }
}

/** The mount a path lives on: the longest mount point that contains it. */
export function mountOf(mounts: Mount[], path: string): Mount | undefined {
  const containing = mounts.filter(
    (m) => m.mountpoint === '/' || path === m.mountpoint || path.startsWith(`${m.mountpoint}/`),
  )
  return containing.sort((a, b) => b.mountpoint.length - a.mountpoint.length)[0]
}
