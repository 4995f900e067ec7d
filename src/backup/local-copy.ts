// A physical backup read straight from the data directory, for a service running on the database
// host: PostgreSQL's non-exclusive backup API on one session (a temporary slot keeps the WAL from
// the start), the files read in large sequential reads into the same fixed-offset chunks as the
// pg_basebackup stream (physical.ts), then the WAL of the copy from pg_wal, laid out as
// `pg_basebackup -X fetch` lays it out. Dedup, incrementals, verify and restore see no difference.
// It skips pg_basebackup's process, its tar stream and the pipe: the reason it exists (speed).
import { randomBytes } from 'node:crypto'
import { lstat, open, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type postgres from 'postgres'
import type { ConnectionTarget } from '../instances/connection-test.ts'
import { openInstanceConnection } from '../instances/connection-test.ts'
import type { HostPolicy } from '../instances/host-policy.ts'
import type { ChunkWriter } from './chunk-writer.ts'
import type { ChunkRef, ManifestFile } from './manifest.ts'
import { parseLsn, segmentName, timelineHex } from './manifest.ts'
import type { PhysicalCopy } from './physical.ts'

export type CopyMethod = 'stream' | 'local'
export type CopyMethodSetting = 'auto' | CopyMethod

/** Whether the data directory of the server behind `sql` can be copied from here, and why not. */
export type LocalProbe =
  | { ok: true; dataDirectory: string; pgVersion: number }
  | { ok: false; reason: string }

// What pg_basebackup leaves out (basebackup.c): directories kept empty, and files.
const emptiedDirectories = new Set([
  'pg_stat_tmp',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_subtrans',
])
const skippedFiles = new Set([
  'backup_label',
  'tablespace_map',
  'backup_manifest',
  'postmaster.pid',
  'postmaster.opts',
  'current_logfiles.tmp',
])
/** Files skipped wherever they are: the relcache init file, temporary files and relations. */
const skippedAnywhere = (name: string) =>
  name.startsWith('pg_internal.init') ||
  name.startsWith('pgsql_tmp') ||
  /^t\d+_\d+(_\w+)?(\.\d+)?$/.test(name)

/** The system identifier pg_control holds: its first 8 bytes, little-endian. */
export async function controlFileSystemIdentifier(dataDirectory: string): Promise<string> {
  const handle = await open(join(dataDirectory, 'global', 'pg_control'), 'r')
  try {
    const bytes = Buffer.alloc(8)
    const { bytesRead } = await handle.read(bytes, 0, 8, 0)
    if (bytesRead !== 8) throw new Error('pg_control is shorter than 8 bytes')
    return bytes.readBigUInt64LE(0).toString()
  } finally {
    await handle.close()
  }
}

/**
 * Fails closed: any doubt (not readable, another cluster, a standby, tablespaces, no
 * full_page_writes, missing privileges) gives a reason, and the caller streams instead.
 */
export async function probeLocalCopy(sql: postgres.Sql): Promise<LocalProbe> {
  let row: {
    dir: string
    version: string
    system: string
    recovery: boolean
    fpw: string
    port: string
    started: string
  }
  try {
    const [found] = await sql<(typeof row)[]>`
      select current_setting('data_directory') as dir,
             current_setting('server_version_num') as version,
             (select system_identifier::text from pg_control_system()) as system,
             pg_is_in_recovery() as recovery,
             current_setting('full_page_writes') as fpw,
             current_setting('port') as port,
             extract(epoch from pg_postmaster_start_time())::text as started`
    if (!found) return { ok: false, reason: 'the server returned nothing' }
    row = found
  } catch (error) {
    return { ok: false, reason: `the server would not say where its data directory is (${String(error)})` }
  }
  if (row.recovery) return { ok: false, reason: 'the server is a standby' }
  if (row.fpw !== 'on')
    return { ok: false, reason: 'full_page_writes is off: a file copy could keep torn pages' }
  const pgVersion = Math.floor(Number(row.version) / 10000)
  if (pgVersion < 13) return { ok: false, reason: `PostgreSQL ${pgVersion} is older than 13` }
  const [rights] = await sql<{ backup: boolean; slot: boolean }[]>`
    select has_function_privilege(${pgVersion >= 15 ? 'pg_backup_start(text, boolean)' : 'pg_start_backup(text, boolean, boolean)'}, 'execute') as backup,
           (select rolsuper or rolreplication from pg_roles where rolname = current_user) as slot`
  if (!rights?.backup || !rights.slot)
    return { ok: false, reason: 'the role may not run the backup functions or create a replication slot' }
  try {
    const local = await controlFileSystemIdentifier(row.dir)
    if (local !== row.system)
      return {
        ok: false,
        reason: `${row.dir} belongs to another cluster (system ${local}, not ${row.system})`,
      }
    // The same identifier is also a standby's or a copy's: the running postmaster must be this server.
    const pid = (await readFile(join(row.dir, 'postmaster.pid'), 'utf8')).split('\n')
    const started = Number(pid[2])
    if (pid[3]?.trim() !== row.port || !(Math.abs(started - Number(row.started)) <= 5))
      return { ok: false, reason: `the postmaster of ${row.dir} is not the server connected to` }
    const spaces = await readdir(join(row.dir, 'pg_tblspc'))
    if (spaces.length > 0) return { ok: false, reason: 'the cluster has tablespaces' }
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'error'
    return { ok: false, reason: `the data directory ${row.dir} is not readable here (${code})` }
  }
  return { ok: true, dataDirectory: row.dir, pgVersion }
}

/** Reads up to `size` bytes at `position` into a new array (shorter at the end of the file). */
async function readPiece(handle: import('node:fs/promises').FileHandle, position: number, size: number) {
  const piece = new Uint8Array(size)
  let filled = 0
  while (filled < size) {
    const { bytesRead } = await handle.read(piece, filled, size - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled === size ? piece : piece.subarray(0, filled)
}

type CopyContext = {
  writer: ChunkWriter
  chunkSize: number
  signal?: AbortSignal | undefined
  onProgress?: ((bytesRead: number) => void) | undefined
  bytesRead: number
}

/** Stores one file as chunks; null when it vanished before it could be opened. A file that shrank
 * is stored at the length read; growth past the size seen at the walk is left to WAL replay. */
async function copyFile(
  context: CopyContext,
  path: string,
  file: ManifestFile,
  expected: number,
): Promise<ManifestFile | null> {
  let handle: import('node:fs/promises').FileHandle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return null
    throw error
  }
  try {
    const chunks: ChunkRef[] = []
    let position = 0
    while (position < expected) {
      context.signal?.throwIfAborted()
      const piece = await readPiece(handle, position, Math.min(context.chunkSize, expected - position))
      const size = piece.byteLength
      if (size === 0) break
      const index = chunks.length
      chunks.length++
      await context.writer.add(piece, (ref) => {
        chunks[index] = ref
      })
      position += size
      context.bytesRead += size
      context.onProgress?.(context.bytesRead)
    }
    return { ...file, size: position, chunks }
  } finally {
    await handle.close()
  }
}

/** Stores bytes made here (backup_label) as a file. */
async function addContent(context: CopyContext, path: string, text: string): Promise<ManifestFile> {
  const data = new TextEncoder().encode(text)
  const chunks: ChunkRef[] = []
  for (let at = 0; at < data.byteLength; at += context.chunkSize) {
    const index = chunks.length
    chunks.length++
    await context.writer.add(data.slice(at, at + context.chunkSize), (ref) => {
      chunks[index] = ref
    })
  }
  return {
    path,
    type: 'file',
    mode: 0o600,
    mtime: Math.floor(Date.now() / 1000),
    size: data.byteLength,
    chunks,
  }
}

const entryOf = (path: string, type: ManifestFile['type'], stats: { mode: number; mtimeMs: number }) => ({
  path,
  type,
  mode: stats.mode & 0o7777,
  mtime: Math.floor(stats.mtimeMs / 1000),
  size: 0,
})

/** The data directory in sorted order, each directory before its contents, with pg_basebackup's
 * exclusions; pg_wal is kept as an empty directory with archive_status (the WAL comes later). */
async function walk(context: CopyContext, root: string, relative: string, files: ManifestFile[]) {
  let names: string[]
  try {
    names = (await readdir(join(root, relative))).sort()
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT' && relative !== '') return
    throw error
  }
  // In a database directory, an unlogged relation (one with an init fork) is stored as its init
  // fork only: recovery resets it from that, as after a crash (pg_basebackup does the same).
  const unlogged = /^base\/\d+$/.test(relative)
    ? new Set(names.filter((n) => /^\d+_init$/.test(n)).map((n) => n.slice(0, -5)))
    : null
  for (const name of names) {
    context.signal?.throwIfAborted()
    const path = relative ? `${relative}/${name}` : name
    if (unlogged?.size) {
      const relation = /^(\d+)(_[a-z]+)?(\.\d+)?$/.exec(name)
      if (relation && unlogged.has(relation[1] as string) && relation[2] !== '_init') continue
    }
    const full = join(root, path)
    if (relative === '' && skippedFiles.has(name)) continue
    if (skippedAnywhere(name)) continue
    let stats: Awaited<ReturnType<typeof lstat>>
    try {
      stats = await lstat(full)
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') continue
      throw error
    }
    if (relative === '' && name === 'pg_wal') {
      // A symlinked pg_wal becomes a directory, as pg_basebackup writes it.
      const mode = stats.isDirectory() ? stats : { mode: 0o700, mtimeMs: stats.mtimeMs }
      files.push(entryOf('pg_wal', 'directory', mode), entryOf('pg_wal/archive_status', 'directory', mode))
      continue
    }
    if (stats.isDirectory()) {
      files.push(entryOf(path, 'directory', stats))
      if (relative === '' && emptiedDirectories.has(name)) continue
      await walk(context, root, path, files)
    } else if (stats.isFile()) {
      const copied = await copyFile(context, full, entryOf(path, 'file', stats), Number(stats.size))
      if (copied) files.push(copied)
    }
    // Symbolic links (outside pg_wal and pg_tblspc, which is empty here), sockets, pipes and
    // devices: pg_basebackup skips them as special files too.
  }
}

/** "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)" and "START TIMELINE: 1". */
function parseLabel(text: string): { startLsn: string; timeline: number } {
  const start = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{8})/.exec(text)
  if (!start) throw new Error('pg_backup_stop returned no usable backup_label')
  return { startLsn: start[1] as string, timeline: Number.parseInt(start[2] as string, 16) }
}

/** Copies the data directory of the server (which probeLocalCopy accepted) into the writer. */
export async function copyLocal(options: {
  target: ConnectionTarget
  connectTimeoutMs: number
  hostPolicy: HostPolicy
  dataDirectory: string
  pgVersion: number
  walSegmentSize: number
  label: string
  writer: ChunkWriter
  chunkSize: number
  signal?: AbortSignal | undefined
  onProgress?: (bytesRead: number) => void
}): Promise<PhysicalCopy> {
  const context: CopyContext = {
    writer: options.writer,
    chunkSize: options.chunkSize,
    signal: options.signal,
    onProgress: options.onProgress,
    bytesRead: 0,
  }
  // One session for the whole copy: the backup and the temporary slot end with it, so a failed or
  // cancelled copy leaves nothing behind on the server.
  const sql = openInstanceConnection(options.target, {
    connectTimeoutMs: options.connectTimeoutMs,
    hostPolicy: options.hostPolicy,
    statementTimeoutMs: 600_000,
    lockTimeoutMs: 60_000,
    idleTimeoutSeconds: 0,
    applicationName: 'pganalytics-backup',
  })
  const session = await sql.reserve().catch(async (error) => {
    await sql.end({ timeout: 5 })
    throw error
  })
  try {
    const slot = `pga_backup_${randomBytes(6).toString('hex')}`
    await session`select pg_create_physical_replication_slot(${slot}, true, true)`
    const modern = options.pgVersion >= 15
    await (modern
      ? session`select pg_backup_start(${options.label}, true)`
      : session`select pg_start_backup(${options.label}, true, false)`)
    const files: ManifestFile[] = []
    await walk(context, options.dataDirectory, '', files)
    const [stop] = await (modern
      ? session<{ lsn: string; labelfile: string; spcmapfile: string }[]>`
          select lsn::text, labelfile, spcmapfile from pg_backup_stop(false)`
      : session<{ lsn: string; labelfile: string; spcmapfile: string }[]>`
          select lsn::text, labelfile, spcmapfile from pg_stop_backup(false, false)`)
    if (!stop) throw new Error('pg_backup_stop returned nothing')
    const label = parseLabel(stop.labelfile)
    files.unshift(await addContent(context, 'backup_label', stop.labelfile))
    if (stop.spcmapfile) files.splice(1, 0, await addContent(context, 'tablespace_map', stop.spcmapfile))
    await copyWal(context, options, label, stop.lsn, files)
    await options.writer.flush()
    await session`select pg_drop_replication_slot(${slot})`.catch(() => {})
    return {
      files,
      timeline: label.timeline,
      startLsn: label.startLsn,
      endLsn: stop.lsn,
      consistentAt: new Date().toISOString(),
    }
  } catch (error) {
    throw options.signal?.aborted ? options.signal.reason : error
  } finally {
    session.release()
    await sql.end({ timeout: 5 })
  }
}

/** The segments from the start LSN's through the one holding the last byte before the stop LSN
 * (pg_backup_stop switched WAL, so it is complete on disk), each marked archived, and the
 * timeline's history file: what `pg_basebackup -X fetch` adds. */
async function copyWal(
  context: CopyContext,
  options: { dataDirectory: string; walSegmentSize: number },
  label: { startLsn: string; timeline: number },
  stopLsn: string,
  files: ManifestFile[],
) {
  const segmentSize = BigInt(options.walSegmentSize)
  const first = parseLsn(label.startLsn) / segmentSize
  const last = (parseLsn(stopLsn) - 1n) / segmentSize
  const names: string[] = []
  if (label.timeline > 1) names.push(`${timelineHex(label.timeline)}.history`)
  for (let segno = first; segno <= last; segno++)
    names.push(segmentName(label.timeline, segno * segmentSize, options.walSegmentSize))
  for (const name of names) {
    const path = join(options.dataDirectory, 'pg_wal', name)
    const stats = await lstat(path).catch(() => null)
    if (!stats) throw new Error(`WAL file ${name} of the backup is missing from pg_wal`)
    const expected = name.endsWith('.history') ? Number(stats.size) : options.walSegmentSize
    const copied = await copyFile(context, path, entryOf(`pg_wal/${name}`, 'file', stats), expected)
    if (!copied || copied.size !== expected) throw new Error(`WAL file ${name} could not be read whole`)
    files.push(copied)
    files.push(await addContent(context, `pg_wal/archive_status/${name}.done`, ''))
  }
}
