// The PostgreSQL programs backups and restores run, found by major version: pg_basebackup,
// pg_receivewal, pg_dump and pg_restore of at least the server's major version (they read older
// servers and dumps, not newer ones); pg_controldata, postgres and pg_ctl of exactly the backup's
// version for a restore into a directory and a drill. Looked up in PGA_PG_BIN_DIR, then /usr/lib/postgresql/<major>/bin
// (Debian, Ubuntu), /usr/pgsql-<major>/bin (RHEL), then PATH; a missing one is named plainly.
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export type PgTool =
  | 'pg_basebackup'
  | 'pg_receivewal'
  | 'pg_dump'
  | 'pg_restore'
  | 'pg_verifybackup'
  | 'pg_ctl'
  | 'postgres'
  | 'initdb'
  | 'psql'
  | 'pg_controldata'

/** A program the operation needs is not installed (in a usable version). */
export class PgToolMissingError extends Error {
  override name = 'PgToolMissingError'
  constructor(
    readonly tool: PgTool,
    readonly major: number,
    readonly exact: boolean,
  ) {
    super(
      `${tool} ${exact ? '' : '>= '}${major} is not installed where the service runs (looked in PGA_PG_BIN_DIR, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin and PATH); install the PostgreSQL ${major} client${tool === 'postgres' || tool === 'pg_ctl' || tool === 'initdb' ? ' and server' : ''} packages`,
    )
  }
}

const versions = new Map<string, Promise<number | null>>()

/** The major version a program reports, or null when it does not run. */
function majorOf(path: string): Promise<number | null> {
  let found = versions.get(path)
  if (!found) {
    found = run(path, ['--version'], { timeout: 10_000 }).then(
      ({ stdout }) => Number(/\(PostgreSQL\)\s+(\d+)/.exec(stdout)?.[1] ?? Number.NaN) || null,
      () => null,
    )
    versions.set(path, found)
  }
  return found
}

function candidateDirs(binDir: string | undefined): string[] {
  const dirs: string[] = []
  if (binDir) dirs.push(binDir)
  for (const root of ['/usr/lib/postgresql']) {
    if (!existsSync(root)) continue
    for (const version of readdirSync(root).sort((a, b) => Number(b) - Number(a)))
      dirs.push(join(root, version, 'bin'))
  }
  if (existsSync('/usr')) {
    for (const entry of readdirSync('/usr')
      .filter((d) => /^pgsql-\d+$/.test(d))
      .sort()
      .reverse())
      dirs.push(join('/usr', entry, 'bin'))
  }
  dirs.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean))
  return dirs
}

/**
 * The path of `tool` whose major version is `major` (exact) or at least `major`. Prefers the
 * exact version, then the lowest newer one.
 */
export async function findPgTool(
  tool: PgTool,
  major: number,
  options: { exact?: boolean; binDir?: string | undefined } = {},
): Promise<string> {
  const found: { path: string; major: number }[] = []
  for (const dir of candidateDirs(options.binDir)) {
    const path = join(dir, tool)
    if (!existsSync(path)) continue
    const version = await majorOf(path)
    if (version !== null) found.push({ path, major: version })
  }
  const exact = found.find((f) => f.major === major)
  if (exact) return exact.path
  if (!options.exact) {
    const newer = found.filter((f) => f.major > major).sort((a, b) => a.major - b.major)[0]
    if (newer) return newer.path
  }
  throw new PgToolMissingError(tool, major, options.exact ?? false)
}
