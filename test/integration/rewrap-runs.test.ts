// Rewrap runs under rotations that come faster than rewrap, across two replicas (issue 16,
// defect 4: a run left `running` forever and every retry failing on the one-running index), and a
// run that cannot finish showing why in the keyring report.
import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { systemAudit } from '../../src/audit/events.ts'
import { createLocalKek, type KeyEncryptionKey } from '../../src/keys/kek.ts'
import { KeyService } from '../../src/keys/service.ts'
import { randomBytes } from '../../src/platform/crypto/aes-gcm.ts'
import { type Database, openDatabase } from '../../src/platform/db/database.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createRedisStateStore } from '../../src/platform/state/redis.ts'
import type { StateStore } from '../../src/platform/state/state-store.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { captureLogs } from '../support/logs.ts'
import { until as pollUntil } from '../support/until.ts'

const logs = captureLogs()
const log = logs.log
const toClose: { close(): Promise<void> }[] = []
const services: KeyService[] = []

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()))
  await Promise.all(toClose.map((c) => c.close()))
})

/** The shared poll, with this file's deadline. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000) =>
  pollUntil(what, probe, { timeoutMs, intervalMs: 100 })

async function openStore(url: string): Promise<Database> {
  const db = await openDatabase(
    {
      kind: 'postgres',
      url,
      poolSize: 4,
      statementTimeoutMs: 20_000,
      connectTimeoutMs: 3000,
      ssl: 'disable',
    },
    { log },
  )
  toClose.push(db)
  return db
}

function openState(prefix: string): StateStore {
  const state = createRedisStateStore({
    url: inject('redisUrl'),
    mode: 'standalone',
    sentinels: [],
    sentinelMaster: 'mymaster',
    clusterNodes: [],
    keyPrefix: prefix,
  })
  toClose.push(state)
  return state
}

/** One replica: its own pool, its own Redis client (same prefix), its own key service. */
async function startReplica(url: string, prefix: string, kek: KeyEncryptionKey, holder: string) {
  const service = new KeyService({
    db: await openStore(url),
    state: openState(prefix),
    log,
    kek,
    holder,
    // Keys settle for longer than a reservation lives, as in production (2 min vs 30 s).
    options: { maintenanceIntervalMs: 250, settleMs: 1500, reservationTtlMs: 300, batchSize: 40 },
  })
  services.push(service)
  return service
}

async function storeWithSecrets(count: number) {
  const url = await createTestDatabase(inject('pgUrl'))
  const db = await openStore(url)
  await runMigrations(db.sql, readMigrationsDir(), log)
  await db.sql`create table secrets (id bigserial primary key, secret_enc text)`
  await db.sql`insert into pga_encrypted_columns values ('secrets', 'secret_enc', 'id')`
  return { url, db, count }
}

async function fillSecrets(db: Database, service: KeyService, count: number): Promise<Map<string, string>> {
  const expected = new Map<string, string>()
  for (let i = 0; i < count; i++) {
    const [row] = await db.sql<
      { id: string }[]
    >`insert into secrets (secret_enc) values (null) returning id::text as id`
    const id = row?.id as string
    const text = `secret number ${i}`
    const value = await service
      .keyring()
      .encrypt(text, { table: 'secrets', column: 'secret_enc', rowKey: id })
    await db.sql`update secrets set secret_enc = ${value} where id = ${id}`
    expected.set(id, text)
  }
  return expected
}

describe('rewrap under a burst of rotations', () => {
  it('50 rotations across two replicas: every value ends under the newest key, no run left running', async () => {
    const { url, db } = await storeWithSecrets(0)
    const kek = await createLocalKek(randomBytes(32))
    const prefix = `test:rewrap:${randomUUID()}:`
    const a = await startReplica(url, prefix, kek, 'replica-a')
    await a.start({ maintenance: true })
    const b = await startReplica(url, prefix, kek, 'replica-b')
    await b.start({ maintenance: true })
    const expected = await fillSecrets(db, a, 300)

    // The burst: each rotation kicks a background pass on its replica while the other's may run.
    // Every fourth waits until a pass has started a run for it, so that more than ten runs exist.
    for (let i = 0; i < 50; i++) {
      const version = await (i % 2 === 0 ? a : b).rotate(`burst ${i}`, systemAudit('test'))
      if (i % 4 === 3)
        await until(`a run for v${version}`, async () => {
          const [run] = await db.sql`select 1 from pga_key_rewrap_runs where target_version = ${version}`
          return run
        })
    }
    const newest = 51

    const report = await until('the rewrap to finish and the old keys to retire', async () => {
      const r = await a.report()
      const settled =
        r.rewrap?.state === 'done' && r.keys.every((k) => k.version === newest || k.state === 'retired')
      return settled ? r : undefined
    })
    expect(report.activeVersion).toBe(newest)
    expect(report.rewrap).toMatchObject({
      targetVersion: newest,
      state: 'done',
      lastError: null,
      stalled: false,
    })
    // More than ten runs: the run that counts must be found by number, not by text order.
    const runs = await db.sql<{ state: string; n: number }[]>`
      select state, count(*)::int as n from pga_key_rewrap_runs group by state order by state`
    expect(runs.find((r) => r.state === 'running')).toBeUndefined()
    expect(runs.reduce((sum, r) => sum + r.n, 0)).toBeGreaterThan(10)
    expect(logs.lines.filter((l) => l.includes('background rewrap failed'))).toEqual([])

    const rows = await db.sql<
      { id: string; secret_enc: string }[]
    >`select id::text as id, secret_enc from secrets`
    expect(rows).toHaveLength(300)
    for (const row of rows) {
      expect(row.secret_enc.startsWith(`pga:v1:${newest}:`), `row ${row.id}`).toBe(true)
      const place = { table: 'secrets', column: 'secret_enc', rowKey: row.id }
      expect(await b.keyring().decrypt(row.secret_enc, place)).toBe(expected.get(row.id))
    }
  }, 180_000)

  it('takes over a run left running by a replica that died, and supersedes one for an older key', async () => {
    const { url, db } = await storeWithSecrets(0)
    const kek = await createLocalKek(randomBytes(32))
    const prefix = `test:rewrap:${randomUUID()}:`
    const a = await startReplica(url, prefix, kek, 'replica-a')
    await a.start({ maintenance: false })
    const expected = await fillSecrets(db, a, 50)
    await a.keyring().rotate('first')
    // A run for version 2 that a dead replica left running, numbered 9 so that text order
    // ('9' > '10') would have hidden the newer runs behind it.
    await db.sql`
      insert into pga_key_rewrap_runs (id, target_version, state, total, done, holder, updated_at)
      values (9, 2, 'running', 50, 10, 'dead-replica', now() - interval '1 hour')`
    await db.sql`select setval('pga_key_rewrap_runs_id_seq', 9)`
    const stuck = await a.report()
    expect(stuck.rewrap).toMatchObject({ id: '9', state: 'running', holder: 'dead-replica', stalled: true })

    await a.keyring().rotate('second')
    const outcome = await a.rewrap()
    expect(outcome).toMatchObject({
      status: 'rewrapped',
      run: { id: '10', targetVersion: 3, holder: 'replica-a' },
    })
    const states = await db.sql<{ id: string; state: string }[]>`
      select id::text as id, state from pga_key_rewrap_runs r order by r.id`
    expect(states).toEqual([
      { id: '9', state: 'superseded' },
      { id: '10', state: 'running' }, // keys 1 and 2 still settling
    ])
    expect((await a.report()).rewrap).toMatchObject({ id: '10', stalled: false })
    const values = await db.sql<
      { id: string; secret_enc: string }[]
    >`select id::text as id, secret_enc from secrets`
    for (const row of values) {
      expect(row.secret_enc.startsWith('pga:v1:3:')).toBe(true)
      const place = { table: 'secrets', column: 'secret_enc', rowKey: row.id }
      expect(await a.keyring().decrypt(row.secret_enc, place)).toBe(expected.get(row.id))
    }
  }, 60_000)

  it('reports a value it cannot move (by place, not content) and recovers once it is fixed', async () => {
    const { url, db } = await storeWithSecrets(0)
    const kek = await createLocalKek(randomBytes(32))
    const a = await startReplica(url, `test:rewrap:${randomUUID()}:`, kek, 'replica-a')
    await a.start({ maintenance: false })
    await fillSecrets(db, a, 20)
    // A value copied onto another row no longer authenticates there.
    const [bad] = await db.sql<{ id: string }[]>`
      update secrets set secret_enc = (select secret_enc from secrets where id = 1) where id = 7
      returning id::text as id`
    await a.keyring().rotate('rotation')

    const error = await a.rewrap().catch((e) => e)
    expect(error).toBeInstanceOf(Error)
    const report = await a.report()
    expect(report.rewrap?.state).toBe('running')
    expect(report.rewrap?.lastError).toMatch(
      /^RewrapValueError: secrets\.secret_enc row 7: authentication failed/,
    )
    expect(report.rewrap?.lastError).not.toContain('pga:v1:')
    expect(report.rewrap?.lastErrorAt).toBeInstanceOf(Date)

    await db.sql`delete from secrets where id = ${bad?.id as string}`
    expect(await a.rewrap()).toMatchObject({
      status: 'rewrapped',
      run: { lastError: null, lastErrorAt: null },
    })
  }, 60_000)
})
