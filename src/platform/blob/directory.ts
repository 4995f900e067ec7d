// A directory as an object store: one file per key, written through a temporary file and a
// rename so a crash never leaves a torn object, readable by the service's user only.
import { randomUUID } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative, sep } from 'node:path'
import { type BlobStore, checkKey } from './blob-store.ts'

export class DirectoryBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  get description() {
    return `directory ${this.root}`
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = join(this.root, checkKey(key))
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const temporary = `${path}.${randomUUID()}.tmp`
    await writeFile(temporary, body, { mode: 0o600, flush: true })
    await rename(temporary, path)
  }

  async get(key: string): Promise<Uint8Array | null> {
    try {
      return new Uint8Array(await readFile(join(this.root, checkKey(key))))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
  }

  async delete(key: string): Promise<void> {
    await rm(join(this.root, checkKey(key)), { force: true })
  }

  async list(prefix: string): Promise<string[]> {
    let files: string[]
    try {
      files = (await readdir(this.root, { recursive: true, withFileTypes: true }))
        .filter((d) => d.isFile() && !d.name.endsWith('.tmp'))
        .map((d) => relative(this.root, join(d.parentPath, d.name)).split(sep).join('/'))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    return files.filter((key) => key.startsWith(prefix)).sort()
  }
}
