// Reads migrations/*.sql from disk (Node, `bun run`, tests). The compiled binary gets the same
// files from its embedded copy through the runtime adapter.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Migration, parseMigrationFiles } from './migrations.ts'

/** The repository's migrations directory, found relative to this source file. */
export const defaultMigrationsDir = fileURLToPath(new URL('../../../migrations', import.meta.url))

export function readMigrationsDir(dir: string = defaultMigrationsDir): Migration[] {
  const names = readdirSync(dir).filter((name) => name.endsWith('.sql'))
  return parseMigrationFiles(names.map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') })))
}
