import postgres from 'postgres'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { type Migration, MigrationError, runMigrations } from '../../src/platform/db/migrations.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { captureLogs } from '../support/logs.ts'
import { until } from '../support/until.ts'

const open: postgres.Sql[] = []
async function freshDb(max = 4) {
  const sql = postgres(await createTestDatabase(inject('pgUrl')), { max, onnotice: () => {} })
  open.push(sql)
  return sql
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((sql) => sql.end()))
})

const m1: Migration = {
  version: 1,
  name: '0001_things',
  sql: 'create table things (id int primary key, label text)',
}
const m2: Migration = { version: 2, name: '0002_more', sql: "insert into things values (1, 'one')" }

describe('runMigrations', () => {
  it('applies pending migrations in order and records checksums, then does nothing', async () => {
    const sql = await freshDb()
    const { log } = captureLogs()
    expect(await runMigrations(sql, [m1, m2], log)).toEqual({
      applied: ['0001_things', '0002_more'],
      alreadyApplied: 0,
    })
    expect(await runMigrations(sql, [m1, m2], log)).toEqual({ applied: [], alreadyApplied: 2 })
    const rows =
      await sql`select version, name, length(checksum) as len from pga_schema_migrations order by version`
    expect(rows).toEqual([
      { version: 1, name: '0001_things', len: 64 },
      { version: 2, name: '0002_more', len: 64 },
    ])
    expect(await sql`select label from things`).toEqual([{ label: 'one' }])
  })

  it('refuses an applied migration whose text was edited, before running anything', async () => {
    const sql = await freshDb()
    const { log } = captureLogs()
    await runMigrations(sql, [m1], log)
    const edited = { ...m1, sql: `${m1.sql} -- tweak` }
    const third: Migration = { version: 3, name: '0003_x', sql: 'create table x (id int)' }
    await expect(runMigrations(sql, [edited, third], log)).rejects.toThrow(
      /migration 0001_things was edited after it was applied .*add a new migration instead/,
    )
    const [{ exists }] = (await sql`select to_regclass('x') is not null as exists`) as unknown as [
      { exists: boolean },
    ]
    expect(exists).toBe(false)
  })

  it('refuses a store migrated by a newer build', async () => {
    const sql = await freshDb()
    const { log } = captureLogs()
    await runMigrations(sql, [m1, m2], log)
    await expect(runMigrations(sql, [m1], log)).rejects.toThrow(
      /has migration 0002_more that this build does not know/,
    )
  })

  it('rolls back a failing migration entirely and keeps earlier ones', async () => {
    const sql = await freshDb()
    const { log } = captureLogs()
    const bad: Migration = {
      version: 2,
      name: '0002_bad',
      sql: 'create table half (id int); select * from missing_table',
    }
    const error = await runMigrations(sql, [m1, bad], log).catch((e) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect(error.message).toMatch(/migration 0002_bad failed and was rolled back: .*missing_table/)
    expect(await sql`select to_regclass('half') as t`).toEqual([{ t: null }])
    expect(await sql`select version from pga_schema_migrations`).toEqual([{ version: 1 }])
  })

  it('applies each migration exactly once when several replicas start together', async () => {
    const url = await createTestDatabase(inject('pgUrl'))
    const { log } = captureLogs()
    // The migration would fail if run twice (the insert hits the primary key).
    const once: Migration = {
      version: 2,
      name: '0002_once',
      sql: "select pg_sleep(0.2); insert into things values (7, 'seven')",
    }
    const replicas = Array.from({ length: 5 }, () => postgres(url, { max: 2, onnotice: () => {} }))
    open.push(...replicas)
    const results = await Promise.all(replicas.map((sql) => runMigrations(sql, [m1, once], log)))
    expect(results.flatMap((r) => r.applied).sort()).toEqual(['0001_things', '0002_once'])
    expect(await (replicas[0] as postgres.Sql)`select id from things`).toEqual([{ id: 7 }])
  })

  it('checks an up-to-date store without the migration lock, and still takes it for pending work', async () => {
    const sql = await freshDb()
    const { log } = captureLogs()
    await runMigrations(sql, [m1], log)
    // Another replica holds the migration lock (the key in migrations.ts) for as long as it likes.
    const holder = await sql.reserve()
    await holder`select pg_advisory_lock(${(0x7067616d696772n).toString()}::bigint)`
    try {
      // A restart with nothing pending answers without waiting for it...
      expect(await runMigrations(sql, [m1], log)).toEqual({ applied: [], alreadyApplied: 1 })
      // ...and an edited file is still refused, by the locked path once the lock is free.
      const edited = runMigrations(sql, [{ ...m1, sql: `${m1.sql} -- edited` }], log)
      // Pending work waits for the lock: once it is released, m2 runs exactly once.
      const pending = runMigrations(sql, [m1, m2], log)
      await until('both wait for the lock', async () => {
        const [row] = await sql<{ n: number }[]>`
          select count(*)::int as n from pg_locks
           where locktype = 'advisory' and not granted
             and database = (select oid from pg_database where datname = current_database())`
        return row?.n === 2
      })
      await holder`select pg_advisory_unlock(${(0x7067616d696772n).toString()}::bigint)`
      await expect(edited).rejects.toThrow(/edited after it was applied/)
      expect(await pending).toEqual({ applied: ['0002_more'], alreadyApplied: 1 })
    } finally {
      holder.release()
    }
  })
})
