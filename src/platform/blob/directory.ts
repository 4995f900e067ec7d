// A directory as an object store: one file per key, written through a temporary file and a
// rename so a crash never leaves a torn object, readable by the service's user only. A put is
// durable when it resolves: the file is flushed, then the directories whose entries changed
// (the parent, and the parents of directories it created). Listing walks only the directory
// the prefix names, so a prefix in a repository of many files reads only its own subtree.
import { randomUUID } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import type { BlobStore } from './blob-store.ts'
import { checkKey } from './blob-store.ts'

const temporarySuffix = '.tmp'

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code

/**
 * fsync of a directory, so a rename or a new entry in it survives a crash. Like PostgreSQL's
 * fsync_fname, a file system that cannot sync a directory (EINVAL, ENOTSUP...) is not an error.
 */
async function syncDirectory(path: string): Promise<void> {
  if (process.platform === 'win32') return // directories cannot be opened for fsync there
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } catch (error) {
    if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EBADF', 'EISDIR'].includes(errno(error) ?? '')) throw error
  } finally {
    await handle.close()
  }
}

export class DirectoryBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  get description() {
    return `directory ${this.root}`
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = join(this.root, checkKey(key))
    const parent = dirname(path)
    const firstCreated = await mkdir(parent, { recursive: true, mode: 0o700 })
    const temporary = `${path}.${randomUUID()}${temporarySuffix}`
    try {
      await writeFile(temporary, body, { mode: 0o600, flush: true })
      await rename(temporary, path)
    } catch (error) {
      await rm(temporary, { force: true })
      throw error
    }
    // The parent holds the new entry; each directory mkdir created is a new entry in its own parent.
    const changed = [parent]
    const top = firstCreated ? dirname(firstCreated) : parent
    for (let d = parent; d !== top && dirname(d) !== d; d = dirname(d)) changed.push(dirname(d))
    await Promise.all(changed.map(syncDirectory))
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(join(this.root, checkKey(key))))
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return null
      throw error
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    try {
      const found = await stat(join(this.root, checkKey(key)))
      return found.isFile() ? { size: found.size } : null
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return null
      throw error
    }
  }

  async delete(key: string): Promise<void> {
    await rm(join(this.root, checkKey(key)), { force: true })
  }

  async clearPrefix(prefix: string): Promise<void> {
    if (!prefix.endsWith('/')) throw new Error(`clearPrefix needs a directory prefix: ${prefix}`)
    await rm(join(this.root, checkKey(prefix.slice(0, -1))), { recursive: true, force: true })
  }

  /**
   * The walk starts at the deepest directory the prefix names (`backups/b1/` → that directory,
   * `backups/b` → `backups`, keeping only entries starting with `b`); files ending in `.tmp`
   * (puts in progress) are left out. A prefix that no key can match lists nothing.
   */
  async list(prefix: string): Promise<string[]> {
    const segments = prefix.split('/')
    const partial = segments.pop() ?? ''
    if (prefix.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..')) return []
    const start = join(this.root, ...segments)
    const keys: string[] = []
    const keyOf = (parentPath: string, name: string) =>
      relative(this.root, join(parentPath, name)).split(sep).join('/')
    try {
      for (const entry of await readdir(start, { withFileTypes: true })) {
        if (!entry.name.startsWith(partial)) continue
        if (entry.isFile()) {
          if (!entry.name.endsWith(temporarySuffix)) keys.push(keyOf(start, entry.name))
        } else if (entry.isDirectory()) {
          for (const inner of await this.walk(join(start, entry.name)))
            if (inner.isFile() && !inner.name.endsWith(temporarySuffix))
              keys.push(keyOf(inner.parentPath, inner.name))
        }
      }
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return []
      throw error
    }
    return keys.sort()
  }

  /** Every entry under a directory; one removed while we read is no longer there, not an error. */
  private async walk(directory: string) {
    try {
      return await readdir(directory, { recursive: true, withFileTypes: true })
    } catch (error) {
      if (errno(error) === 'ENOENT') return []
      throw error
    }
  }
}
