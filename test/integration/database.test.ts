import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { type Database, openDatabase, withTransaction } from '../../src/platform/db/database.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { captureLogs } from '../support/logs.ts'

let db: Database

type PostgresStore = Extract<Parameters<typeof openDatabase>[0], { kind: 'postgres' }>
/** A pool over a fresh database on the test cluster. */
async function openStore(settings: Partial<PostgresStore> = {}): Promise<Database> {
  const url = await createTestDatabase(inject('pgUrl'))
  const store: PostgresStore = {
    kind: 'postgres',
    url,
    poolSize: 1,
    statementTimeoutMs: 1000,
    connectTimeoutMs: 3000,
    ssl: 'disable',
  }
  return openDatabase({ ...store, ...settings }, { log: captureLogs().log })
}

beforeAll(async () => {
  db = await openStore({ poolSize: 3, statementTimeoutMs: 300 })
  await db.sql`create table notes (id serial primary key, body text not null)`
})
afterAll(async () => {
  await db.close()
})

describe('postgres store', () => {
  it('answers ping and reports its kind', async () => {
    const started = performance.now()
    const ms = await db.ping()
    // A real round trip, measured inside the call, so within what the caller saw.
    expect(ms).toBeGreaterThan(0)
    expect(ms).toBeLessThanOrEqual(performance.now() - started)
    expect(db.kind).toBe('postgres')
    expect(db.shared).toBe(true)
  })

  it('withTransaction commits, and rolls back on error', async () => {
    await withTransaction(db.sql, async (tx) => {
      await tx`insert into notes (body) values ('kept')`
    })
    await expect(
      withTransaction(db.sql, async (tx) => {
        await tx`insert into notes (body) values ('lost')`
        throw new Error('stop')
      }),
    ).rejects.toThrow('stop')
    expect(await db.sql`select body from notes order by id`).toEqual([{ body: 'kept' }])
  })

  it('withTransaction joins an outer transaction instead of opening its own', async () => {
    const writeNote = (executor: Parameters<typeof withTransaction>[0], body: string) =>
      withTransaction(executor, async (tx) => {
        await tx`insert into notes (body) values (${body})`
        return (await tx`select txid_current() as id`)[0]?.id as string
      })
    let outerTx = ''
    let innerTx = ''
    await expect(
      withTransaction(db.sql, async (tx) => {
        outerTx = (await tx`select txid_current() as id`)[0]?.id as string
        innerTx = await writeNote(tx, 'joined')
        throw new Error('outer fails')
      }),
    ).rejects.toThrow('outer fails')
    expect(innerTx).toBe(outerTx)
    expect(await db.sql`select count(*)::int as n from notes where body = 'joined'`).toEqual([{ n: 0 }])
  })

  it('enforces the statement timeout on every connection', async () => {
    await expect(db.sql`select pg_sleep(2)`).rejects.toMatchObject({ code: '57014' })
  })

  it('opens at most poolSize connections, named pganalytics', async () => {
    await Promise.all(Array.from({ length: 10 }, () => db.sql`select pg_sleep(0.05)`))
    const [row] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where application_name = 'pganalytics' and datname = current_database()`
    expect(row?.n).toBeGreaterThan(0)
    expect(row?.n).toBeLessThanOrEqual(3)
  })

  it('looks the array types up on the first connection only; every connection still handles arrays', async () => {
    const store = await openStore({ poolSize: 3 })
    try {
      // postgres.js reports each statement it sends to `debug` (read from its options per query).
      const sent: { connection: number; text: string }[] = []
      Object.assign(store.sql.options, {
        debug: (connection: number, text: string) => sent.push({ connection, text }),
      })
      await store.sql`select 1`
      // Three at once: the pool opens its other two connections.
      const rows = await Promise.all(
        [1, 2, 3].map(
          (n) => store.sql<{ pid: number; found: boolean; list: string[] }[]>`
            select pg_backend_pid() as pid, ${`v${n}`} = any(${['v1', 'v2', 'v3']}) as found,
                   array['a', 'b'] as list, pg_sleep(0.05)::text`,
        ),
      )
      expect(new Set(rows.map(([row]) => row?.pid)).size).toBe(3)
      for (const [row] of rows) expect(row).toMatchObject({ found: true, list: ['a', 'b'] })
      const lookups = sent.filter((s) => s.text.includes('typarray'))
      expect(lookups.map((s) => s.connection)).toEqual([sent[0]?.connection])
    } finally {
      await store.close()
    }
  })

  it.each([
    ['disable', undefined, false],
    ['require', undefined, true],
    ['verify-full', 'test CA', true],
  ] as const)('PGA_DB_SSL=%s (%s) connects with TLS=%s', async (ssl, ca, encrypted) => {
    const tls = await openStore({ ssl, ...(ca ? { sslCaFile: inject('pgCaFile') } : {}) })
    try {
      const [row] = await tls.sql<
        { ssl: boolean }[]
      >`select ssl from pg_stat_ssl where pid = pg_backend_pid()`
      expect(row?.ssl).toBe(encrypted)
    } finally {
      await tls.close()
    }
  })

  it('PGA_DB_SSL=verify-full refuses a server whose certificate it cannot verify', async () => {
    const strict = await openStore({ ssl: 'verify-full' })
    await expect(strict.ping()).rejects.toThrow(/certificate/)
    await strict.close()
  })
})
