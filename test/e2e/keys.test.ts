import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createLocalKek } from '../../src/keys/kek.ts'
import { Keyring } from '../../src/keys/keyring.ts'
import { openDatabase } from '../../src/platform/db/database.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { run, spawn, tempDir } from '../harness/processes.ts'
import { captureLogs } from '../support/logs.ts'
import { newMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, startService } from '../support/service-process.ts'
import { until } from '../support/until.ts'

let binary: string
beforeAll(async () => {
  binary = await binaryInEmptyDir('keys')
}, 180_000)

/** A migrated store holding `rows` values encrypted under data key v1, then rotated to v2. */
async function storeWithStaleValues(masterKey: string, rows: number) {
  const url = await createTestDatabase(inject('pgUrl'))
  const { log } = captureLogs()
  const db = await openDatabase(
    {
      kind: 'postgres',
      url,
      poolSize: 2,
      statementTimeoutMs: 30_000,
      connectTimeoutMs: 3000,
      ssl: 'disable',
    },
    { log },
  )
  await runMigrations(db.sql, readMigrationsDir(), log)
  await db.sql`create table vault (name text primary key, token_enc text not null)`
  await db.sql`insert into pga_encrypted_columns values ('vault', 'token_enc', 'name')`
  const keyring = await Keyring.open({
    db,
    kek: await createLocalKek(new Uint8Array(Buffer.from(masterKey, 'base64'))),
    log,
  })
  const values = await Promise.all(
    Array.from({ length: rows }, async (_, i) => ({
      name: `n${String(i).padStart(5, '0')}`,
      token_enc: await keyring.encrypt(`token-${i}`, {
        table: 'vault',
        column: 'token_enc',
        rowKey: `n${String(i).padStart(5, '0')}`,
      }),
    })),
  )
  for (let i = 0; i < values.length; i += 1000)
    await db.sql`insert into vault ${db.sql(values.slice(i, i + 1000))}`
  await keyring.rotate('test')
  return { url, db, keyring }
}

describe('pganalytics keys rewrap', () => {
  it('resumes where it stopped after being killed midway, and loses nothing', async () => {
    const masterKey = newMasterKey()
    const { url, db, keyring } = await storeWithStaleValues(masterKey, 3000)
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: url, PGA_MASTER_KEY: masterKey }
    // Two connections: one is reserved for the gate's lock.
    const sql = postgres(url, { max: 2 })
    // A gate in the middle of the table: updating row n01500 waits for an advisory lock this test
    // holds, so the run stops there (150 batches of 10 committed) until it is killed.
    await sql`create function vault_gate() returns trigger language plpgsql as $$
      begin perform pg_advisory_xact_lock(1500); return new; end $$`
    await sql`create trigger vault_gate before update on vault
      for each row when (new.name = 'n01500') execute function vault_gate()`
    const gate = await sql.reserve()
    await gate`select pg_advisory_lock(1500)`
    const child = spawn(binary, ['keys', 'rewrap', '--batch-size', '10'], { env, stdio: 'ignore' })
    try {
      await until('the rewrap waiting at the gate with 1500 values moved', async () => {
        const [row] = await sql<{ done: string | null; waiting: number }[]>`
          select (select max(done)::text from pga_key_rewrap_runs) as done,
                 (select count(*)::int from pg_stat_activity
                   where datname = current_database() and wait_event = 'advisory') as waiting`
        return row?.done === '1500' && row.waiting === 1
      })
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      // The killed run's backend is still waiting at the gate: end it, then open the gate.
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
                 where datname = current_database() and wait_event = 'advisory'`
      await gate`select pg_advisory_unlock(1500)`
      const [killed] = await sql<{ id: string; done: string; total: string; state: string }[]>`
        select id::text as id, done::text as done, total::text as total, state from pga_key_rewrap_runs`
      expect(killed).toMatchObject({ state: 'running', done: '1500', total: '3000' })

      const { stdout, stderr } = await run(binary, ['keys', 'rewrap'], {
        env: { ...env, PGA_LOG_LEVEL: 'info' },
      })
      expect(stderr).toContain('"msg":"rewrap resumed"')
      const outcome = JSON.parse(stdout)
      expect(outcome.status).toBe('rewrapped')
      expect(outcome.run).toMatchObject({ id: killed?.id, done: '3000', total: '3000' })

      const rows = await sql<
        { name: string; token_enc: string }[]
      >`select name, token_enc from vault order by name`
      expect(rows).toHaveLength(3000)
      for (const [i, row] of rows.entries()) {
        expect(row.token_enc.startsWith('pga:v1:2:')).toBe(true)
        expect(
          await keyring.decrypt(row.token_enc, { table: 'vault', column: 'token_enc', rowKey: row.name }),
        ).toBe(`token-${i}`)
      }
    } finally {
      child.kill('SIGKILL')
      gate.release()
      await sql.end()
      await db.close()
    }
  }, 120_000)
})

describe('master key at start-up', () => {
  it('refuses to start against a store whose data keys another master key wrapped', async () => {
    const { url, db } = await storeWithStaleValues(newMasterKey(), 1)
    await db.close()
    const wrong = newMasterKey()
    const error = await run(binary, ['serve'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, PGA_MASTER_KEY: wrong, PGA_PORT: '0' },
    }).catch((e) => e)
    expect(error.code).toBe(1)
    expect(error.stderr).toMatch(
      /pganalytics: data key v1 was wrapped by master key local:[0-9a-f]{16}, but the configured master key is local:/,
    )
    expect(`${error.stdout}${error.stderr}`).not.toContain(wrong)
  }, 60_000)

  it('refuses to start with DATABASE_URL and no master key (exit 2)', async () => {
    const error = await run(binary, ['serve'], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: 'postgres://x@127.0.0.1:1/x' },
    }).catch((e) => e)
    expect(error.code).toBe(2)
    expect(error.stderr).toContain(
      'PGA_MASTER_KEY: expected a master key (or PGA_MASTER_KEY_FILE) when DATABASE_URL is set',
    )
  })
})

describe('admin API', () => {
  const token = 'admin-token-for-tests-0123456789abcdef'
  let service: Awaited<ReturnType<typeof startService>>
  let url: string
  beforeAll(async () => {
    const masterKey = newMasterKey()
    ;({ url } = await storeWithStaleValues(masterKey, 50))
    service = await startService({
      command: binary,
      env: {
        DATABASE_URL: url,
        REDIS_URL: inject('redisUrl'),
        PGA_REDIS_KEY_PREFIX: 'keys-e2e:',
        PGA_MASTER_KEY: masterKey,
        PGA_ADMIN_TOKEN: token,
      },
    })
  }, 60_000)
  afterAll(async () => {
    await service?.stop()
  })

  const admin = (path: string, init: RequestInit = {}, bearer: string | null = token) =>
    fetch(`${service.url}${path}`, {
      ...init,
      headers: {
        'Content-Type': 'application/json',
        ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
      },
    })

  it('refuses requests without the admin token, or with a wrong one', async () => {
    for (const [bearer, code] of [
      [null, 'unauthorized'],
      ['wrong-token', 'invalid_token'],
    ] as const) {
      const res = await admin('/api/v1/admin/keys', {}, bearer)
      expect(res.status).toBe(401)
      expect(res.headers.get('WWW-Authenticate')).toContain('Bearer')
      expect(await res.json()).toMatchObject({ code })
    }
  })

  it('reports the keyring; the background rewrap moved the values of the old key', async () => {
    let report:
      | {
          activeVersion: number
          keys: { version: number; state: string }[]
          rewrap: { done: string; total: string } | null
        }
      | undefined
    await until(
      'the background rewrap to move the 50 values',
      async () => {
        report = await (await admin('/api/v1/admin/keys')).json()
        return report?.rewrap?.done === '50'
      },
      { explain: () => JSON.stringify(report) },
    )
    expect(report).toMatchObject({ activeVersion: 2, rewrap: { done: '50', total: '50' } })
    expect(report?.keys.map((k) => [k.version, k.state])).toEqual([
      [1, 'decrypt_only'],
      [2, 'active'],
    ])
  }, 30_000)

  it('rotates the data key; a bad body is a 400', async () => {
    const bad = await admin('/api/v1/admin/keys/rotate', { method: 'POST', body: '{}' })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ code: 'validation_failed', errors: [{ path: 'body.reason' }] })
    const res = await admin('/api/v1/admin/keys/rotate', {
      method: 'POST',
      body: JSON.stringify({ reason: 'e2e' }),
    })
    expect(res.status).toBe(201)
    expect(await res.json()).toEqual({ activeVersion: 3, previousVersion: 2, rewrap: 'started' })
    expect(service.lines.join('\n')).toMatch(/"msg":"data key rotated","activeVersion":3,"reason":"e2e"/)
  })

  it('refuses a would-be admin token when PGA_ADMIN_TOKEN is not set', async () => {
    // Embedded defaults: the first start runs PGlite's initdb, which took 25 s on a loaded CI box.
    const other = await startService({ command: binary, cwd: tempDir('keys-embedded'), timeoutMs: 120_000 })
    try {
      const res = await fetch(`${other.url}/api/v1/admin/keys`, {
        headers: { Authorization: `Bearer ${token}` },
      })
      expect(res.status).toBe(401)
      expect(await res.json()).toMatchObject({ code: 'invalid_token' })
    } finally {
      await other.stop()
    }
  }, 180_000)
})
