// The embedded store (PGlite behind pglite-socket) as the service uses it: postgres.js over a
// private socket, migrations, persistence across restarts, one process per data directory.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openDatabase, withTransaction } from '../../src/platform/db/database.ts'
import { DataDirLockedError } from '../../src/platform/db/embedded.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { tempDir } from '../harness/processes.ts'
import { captureLogs } from '../support/logs.ts'

const dataDir = join(tempDir('embedded'), 'data')
const store = { kind: 'embedded' as const, dataDir, statementTimeoutMs: 5000 }
const { log } = captureLogs()
let open: Awaited<ReturnType<typeof openDatabase>> | undefined

afterAll(async () => {
  await open?.close()
})

describe('embedded store', () => {
  it('creates the database on first start, migrates it and runs transactions', async () => {
    open = await openDatabase(store, { log })
    expect(open.kind).toBe('embedded')
    expect(open.shared).toBe(false)
    expect(open.poolSize).toBe(1)
    expect(statSync(dataDir).mode & 0o777).toBe(0o700)
    const result = await runMigrations(open.sql, await nodeRuntime.assets.migrations(), log)
    expect(result.applied).toContain('0001_service_info')
    await open.sql`create table kept (id bigserial primary key, doc jsonb not null)`
    await withTransaction(open.sql, async (tx) => {
      await tx`insert into kept (doc) values (${tx.json({ n: 1 })})`
    })
    await expect(
      withTransaction(open.sql, async (tx) => {
        await tx`insert into kept (doc) values (${tx.json({ n: 2 })})`
        throw new Error('roll back')
      }),
    ).rejects.toThrow('roll back')
  }, 60_000)

  it('keeps concurrent transactions apart over its single connection', async () => {
    const db = open as NonNullable<typeof open>
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        withTransaction(db.sql, async (tx) => {
          await tx`insert into kept (doc) values (${tx.json({ n: 10 + i })})`
          if (i % 2 === 1) throw new Error('odd ones roll back')
        }).catch(() => {}),
      ),
    )
    const rows = await db.sql`select (doc->>'n')::int as n from kept order by n`
    expect(rows.map((r) => r.n)).toEqual([1, 10, 12, 14])
  })

  it('refuses a second opener of the same data directory', async () => {
    // Same process here, so the lock file names our own pid: fake a live foreign holder.
    const lock = join(dataDir, 'pganalytics.pid')
    const ours = readFileSync(lock, 'utf8')
    writeFileSync(lock, '1')
    try {
      await expect(openDatabase(store, { log })).rejects.toThrow(DataDirLockedError)
      await expect(openDatabase(store, { log })).rejects.toThrow(
        /in use by another pganalytics process \(pid 1\)/,
      )
    } finally {
      writeFileSync(lock, ours)
    }
  })

  it('keeps its data across a restart and takes over a stale lock', async () => {
    await open?.close()
    open = undefined
    expect(existsSync(join(dataDir, 'pganalytics.pid'))).toBe(false)
    writeFileSync(join(dataDir, 'pganalytics.pid'), '999999999')
    open = await openDatabase(store, { log })
    const rows = await open.sql`select count(*)::int as n from kept`
    expect(rows).toEqual([{ n: 4 }])
    expect((await runMigrations(open.sql, await nodeRuntime.assets.migrations(), log)).applied).toEqual([])
  }, 60_000)
})
