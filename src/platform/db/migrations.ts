// Forward-only migrations: migrations/NNNN_name.sql applied in order, each in its own
// transaction, under a session advisory lock so any number of replicas can start at once.
// Each applied file's SHA-256 is recorded; an applied migration whose text changed is refused.
import type { Logger } from '../log.ts'
import type { Sql } from './database.ts'

export type Migration = { version: number; name: string; sql: string }
export type MigrationResult = { applied: string[]; alreadyApplied: number }

/** Any of the ways a migration set can be wrong. The message says what to do. */
export class MigrationError extends Error {
  override name = 'MigrationError'
}

const fileName = /^(\d{4})_([a-z0-9_]+)\.sql$/
// An arbitrary constant shared by every replica: "pga" + "migr" in hex.
const lockKey = 0x7067616d696772n

/** Turns (file name, text) pairs into an ordered migration list, rejecting bad names and duplicates. */
export function parseMigrationFiles(files: { name: string; text: string }[]): Migration[] {
  const migrations = files.map(({ name, text }) => {
    const match = fileName.exec(name)
    if (!match) throw new MigrationError(`migration file "${name}" must be named NNNN_lower_snake_name.sql`)
    return { version: Number(match[1]), name: `${match[1]}_${match[2]}`, sql: text }
  })
  migrations.sort((a, b) => a.version - b.version)
  for (let i = 1; i < migrations.length; i++) {
    const [previous, current] = [migrations[i - 1] as Migration, migrations[i] as Migration]
    if (previous.version === current.version) {
      throw new MigrationError(
        `migrations ${previous.name} and ${current.name} share version ${current.version}`,
      )
    }
  }
  return migrations
}

export async function checksum(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return Buffer.from(digest).toString('hex')
}

/** What pga_schema_migrations records, or null on a new store (no table yet). */
async function appliedChecksums(sql: Sql): Promise<{ version: number; checksum: string }[] | null> {
  try {
    return await sql<{ version: number; checksum: string }[]>`
      select version, checksum from pga_schema_migrations order by version`
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return null // undefined_table
    throw error
  }
}

/** True when every migration is applied with its recorded checksum: the usual restart, checked
 * with one query and no lock. Anything else (a new store, pending, edited or unknown versions) is
 * for the locked path, which reads again under the lock and says what is wrong. */
async function allAppliedAsIs(
  applied: { version: number; checksum: string }[] | null,
  migrations: Migration[],
): Promise<boolean> {
  if (!applied || applied.length !== migrations.length) return false
  const sums = await Promise.all(migrations.map((m) => checksum(m.sql)))
  return applied.every((row, i) => row.version === migrations[i]?.version && row.checksum === sums[i])
}

/**
 * Applies pending migrations. Checks every applied one against the code first: an edited file,
 * or a version the database has but this build lacks (a downgrade), stops with MigrationError
 * before anything runs.
 */
export async function runMigrations(
  sql: Sql,
  files: Migration[] | Promise<Migration[]>,
  log: Logger,
): Promise<MigrationResult> {
  // The files may still be loading (from the binary): the store's answer is awaited alongside.
  const recorded = appliedChecksums(sql)
  recorded.catch(() => {})
  const migrations = await files
  if (await allAppliedAsIs(await recorded, migrations))
    return { applied: [], alreadyApplied: migrations.length }
  const connection = await sql.reserve()
  try {
    await connection`select pg_advisory_lock(${lockKey.toString()}::bigint)`
    try {
      await connection`
        create table if not exists pga_schema_migrations (
          version integer primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default now(),
          duration_ms integer not null
        )`
      const applied = await connection<{ version: number; name: string; checksum: string }[]>`
        select version, name, checksum from pga_schema_migrations order by version`
      const known = new Map(migrations.map((m) => [m.version, m]))
      for (const row of applied) {
        const migration = known.get(row.version)
        if (!migration) {
          throw new MigrationError(
            `the store has migration ${row.name} that this build does not know: it was written by a newer pganalytics; run that version or newer`,
          )
        }
        if ((await checksum(migration.sql)) !== row.checksum) {
          throw new MigrationError(
            `migration ${migration.name} was edited after it was applied (checksum differs from the one recorded); applied migrations are immutable: restore the file and add a new migration instead`,
          )
        }
      }
      const done = new Set(applied.map((row) => row.version))
      const result: MigrationResult = { applied: [], alreadyApplied: done.size }
      for (const migration of migrations) {
        if (done.has(migration.version)) continue
        const started = performance.now()
        // A reserved connection has no .begin(): the transaction is spelled out on it.
        await connection`begin`
        try {
          await connection.unsafe(migration.sql)
          await connection`
            insert into pga_schema_migrations (version, name, checksum, duration_ms)
            values (${migration.version}, ${migration.name}, ${await checksum(migration.sql)}, ${Math.round(performance.now() - started)})`
          await connection`commit`
        } catch (error) {
          await connection`rollback`.catch(() => {})
          throw new MigrationError(
            `migration ${migration.name} failed and was rolled back: ${(error as Error).message}`,
          )
        }
        log.info('migration applied', {
          migration: migration.name,
          ms: Math.round(performance.now() - started),
        })
        result.applied.push(migration.name)
      }
      return result
    } finally {
      await connection`select pg_advisory_unlock(${lockKey.toString()}::bigint)`
    }
  } finally {
    connection.release()
  }
}
