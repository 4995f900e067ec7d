// Checkpoints exported outside the database, so that restoring the whole database to an older,
// internally consistent state is still caught: the exported latest checkpoint is then ahead of
// (or different from) what the database holds. The file sink writes one JSON file per checkpoint
// and `latest.json`, each through a temporary file and a rename, so a crash leaves no torn file.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Checkpoint } from './sealer.ts'

export interface CheckpointSink {
  readonly description: string
  write(checkpoint: Checkpoint): Promise<void>
  latest(): Promise<Checkpoint | null>
}

export class FileCheckpointSink implements CheckpointSink {
  constructor(private readonly dir: string) {}

  get description() {
    return `directory ${this.dir}`
  }

  async write(checkpoint: Checkpoint): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const text = `${JSON.stringify(checkpoint, null, 2)}\n`
    const name = `checkpoint-${String(checkpoint.tree_size).padStart(12, '0')}.json`
    await this.atomicWrite(name, text)
    const current = await this.latest()
    if (!current || current.tree_size <= checkpoint.tree_size) await this.atomicWrite('latest.json', text)
  }

  async latest(): Promise<Checkpoint | null> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'latest.json'), 'utf8')) as Checkpoint
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
  }

  private async atomicWrite(name: string, text: string) {
    const temporary = join(this.dir, `.${name}.${process.pid}.tmp`)
    await writeFile(temporary, text, { mode: 0o600 })
    await rename(temporary, join(this.dir, name))
  }
}

/** What an exported checkpoint says about the database's trail: null when they agree. */
export function compareWithExported(
  exported: Checkpoint,
  stored: { tree_size: number; checkpoint_hash: string } | undefined,
): string | null {
  if (!stored || stored.tree_size < exported.tree_size)
    return `the database holds no checkpoint ${exported.tree_size}, which was exported: it was rolled back or truncated`
  if (stored.checkpoint_hash !== exported.checkpoint_hash)
    return `checkpoint ${exported.tree_size} differs from its exported copy`
  return null
}
