// Writes a backup's files into a directory from the repository: directories, links and files in
// manifest order, each file assembled from its chunks (fetched a few ahead, written in order)
// and checked against its recorded size. Every chunk is authenticated and checked against its
// content id on the way (repository.getChunk), so a restored directory is exactly what was backed
// up, or the restore fails naming the first bad object.
import { chmod, mkdir, open, symlink, utimes } from 'node:fs/promises'
import { dirname, join, normalize, sep } from 'node:path'
import type { BackupManifest, ManifestFile } from './manifest.ts'
import { BackupIntegrityError, type BackupRepository } from './repository.ts'

/** A manifest path inside `root`, never outside it. */
function inside(root: string, path: string): string {
  const full = normalize(join(root, path))
  if (full !== root && !full.startsWith(root.endsWith(sep) ? root : root + sep))
    throw new BackupIntegrityError(`the manifest names a path outside the target: ${path}`)
  return full
}

async function writeFile(
  repository: BackupRepository,
  manifest: BackupManifest,
  file: ManifestFile,
  path: string,
  prefetch: number,
  signal?: AbortSignal,
): Promise<number> {
  const handle = await open(path, 'w', 0o600)
  try {
    const chunks = file.chunks ?? []
    const owner = (index: number) => {
      const id = manifest.owners[index]
      if (!id) throw new BackupIntegrityError(`the manifest of ${manifest.backupId} names an unknown owner`)
      return id
    }
    const pending: Promise<Uint8Array>[] = []
    let next = 0
    const fetchMore = () => {
      while (next < chunks.length && pending.length < prefetch) {
        const [o, id, size] = chunks[next++] as [number, string, number]
        const fetched = repository.getChunk(owner(o), id, size)
        fetched.catch(() => {})
        pending.push(fetched)
      }
    }
    let written = 0
    for (let i = 0; i < chunks.length; i++) {
      signal?.throwIfAborted()
      fetchMore()
      const data = await (pending.shift() as Promise<Uint8Array>)
      if (data.byteLength !== (chunks[i] as [number, string, number])[2])
        throw new BackupIntegrityError(`chunk ${i} of ${file.path} has the wrong size`)
      await handle.write(data, 0, data.byteLength, written)
      written += data.byteLength
    }
    if (written !== file.size)
      throw new BackupIntegrityError(`${file.path}: restored ${written} of ${file.size} bytes`)
    await handle.sync()
    return written
  } finally {
    await handle.close()
  }
}

/** Runs the tasks, `limit` at a time; stops taking new ones after the first failure. */
async function eachLimit(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0
  let failed = false
  const worker = async () => {
    while (!failed && next < tasks.length) {
      const task = tasks[next++] as () => Promise<void>
      await task().catch((error) => {
        failed = true
        throw error
      })
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
}

/** Restores every file of the manifest under `root` (which must exist, empty). Returns bytes.
 * Directories and links first, in manifest order; then the files, `files` at a time (each ends
 * with an fsync: one at a time left the CPU waiting on the disk), each with `prefetch` chunks
 * fetched ahead. */
export async function restoreFiles(
  repository: BackupRepository,
  manifest: BackupManifest,
  root: string,
  options: {
    prefetch?: number
    files?: number
    signal?: AbortSignal
    rename?: (path: string) => string
  } = {},
): Promise<number> {
  if (manifest.files.length !== manifest.fileCount)
    throw new BackupIntegrityError(
      `the manifest of ${manifest.backupId} lists ${manifest.files.length} of ${manifest.fileCount} files`,
    )
  let bytes = 0
  const times: [string, number][] = []
  const writes: (() => Promise<void>)[] = []
  for (const file of manifest.files) {
    const path = inside(root, options.rename ? options.rename(file.path) : file.path)
    if (file.type === 'directory') {
      await mkdir(path, { recursive: true, mode: 0o700 })
      await chmod(path, file.mode & 0o7777)
    } else {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
      if (file.type === 'symlink') await symlink(file.target ?? '', path)
      else
        writes.push(async () => {
          const written = await writeFile(
            repository,
            manifest,
            file,
            path,
            options.prefetch ?? 4,
            options.signal,
          )
          bytes += written
          await chmod(path, file.mode & 0o7777)
        })
    }
    if (file.type !== 'symlink') times.push([path, file.mtime])
  }
  await eachLimit(writes, options.files ?? 4)
  // Directory times last: writing files into them changed them.
  for (const [path, mtime] of times.reverse()) await utimes(path, mtime, mtime)
  return bytes
}
