import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fieldContext } from '../../src/keys/ciphertext.ts'
import { createLocalKek, type KeyEncryptionKey, MasterKeyError } from '../../src/keys/kek.ts'
import { KeyRetiredError, Keyring } from '../../src/keys/keyring.ts'
import { rewrapStaleValues } from '../../src/keys/rewrap.ts'
import {
  DecryptionError,
  fromBase64Url,
  randomBytes,
  toBase64Url,
} from '../../src/platform/crypto/aes-gcm.ts'
import { type Database, openDatabase } from '../../src/platform/db/database.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createMemoryStateStore } from '../../src/platform/state/memory.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { captureLogs } from '../support/logs.ts'
import { until } from '../support/until.ts'

const logs = captureLogs()
const log = logs.log
const opened: Database[] = []

/** A migrated database with a table holding one encrypted column, declared for rewrap. */
async function freshStore(): Promise<Database> {
  const url = await createTestDatabase(inject('pgUrl'))
  const db = await openDatabase(
    {
      kind: 'postgres',
      url,
      poolSize: 6,
      statementTimeoutMs: 20_000,
      connectTimeoutMs: 3000,
      ssl: 'disable',
    },
    { log },
  )
  opened.push(db)
  await runMigrations(db.sql, readMigrationsDir(), log)
  await db.sql`create table secrets (id bigserial primary key, secret_enc text)`
  await db.sql`insert into pga_encrypted_columns values ('secrets', 'secret_enc', 'id')`
  return db
}

const field = (id: number | string, column = 'secret_enc', table = 'secrets') => ({
  table,
  column,
  rowKey: String(id),
})
const newKek = () => createLocalKek(randomBytes(32))

async function insertSecret(db: Database, keyring: Keyring, plaintext: string): Promise<number> {
  const [row] = await db.sql<
    { id: string }[]
  >`insert into secrets (secret_enc) values (null) returning id::text as id`
  const id = Number(row?.id)
  await db.sql`update secrets set secret_enc = ${await keyring.encrypt(plaintext, field(id))} where id = ${id}`
  return id
}

async function readSecret(db: Database, keyring: Keyring, id: number): Promise<string> {
  const [row] = await db.sql<{ secret_enc: string }[]>`select secret_enc from secrets where id = ${id}`
  return keyring.decrypt(row?.secret_enc as string, field(id))
}

afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()))
})

describe('keyring: envelope encryption of fields', () => {
  let db: Database
  let kek: KeyEncryptionKey
  let keyring: Keyring
  beforeAll(async () => {
    db = await freshStore()
    kek = await newKek()
    keyring = await Keyring.open({ db, kek, log })
  })

  it('creates data key v1 on first start, wrapped, and round-trips values', async () => {
    const [key] = await db.sql`select version, state, kek_id, length(wrapped_key) as len from pga_data_keys`
    expect(key).toEqual({ version: 1, state: 'active', kek_id: kek.id, len: 12 + 32 + 16 })
    const value = await keyring.encrypt('s3cr3t password', field(1))
    expect(value).toMatch(/^pga:v1:1:[A-Za-z0-9_-]+$/)
    expect(await keyring.decrypt(value, field(1))).toBe('s3cr3t password')
    expect(await keyring.decrypt(await keyring.encrypt('', field(1)), field(1))).toBe('')
  })

  it.each([
    ['nonce', 0],
    ['ciphertext', 14],
    ['tag', -1],
  ])('rejects a value whose %s was altered', async (_part, offset) => {
    const value = await keyring.encrypt('do not touch', field(2))
    const [, , , data] = value.split(':')
    const bytes = fromBase64Url(data as string)
    const index = offset < 0 ? bytes.byteLength + offset : offset
    bytes[index] = (bytes[index] as number) ^ 0x80
    await expect(keyring.decrypt(`pga:v1:1:${toBase64Url(bytes)}`, field(2))).rejects.toThrow(DecryptionError)
  })

  it('rejects a value moved to another row, column or table', async () => {
    const value = await keyring.encrypt('bound to row 3', field(3))
    await expect(keyring.decrypt(value, field(4))).rejects.toThrow(DecryptionError)
    await expect(keyring.decrypt(value, field(3, 'other_enc'))).rejects.toThrow(DecryptionError)
    await expect(keyring.decrypt(value, field(3, 'secret_enc', 'elsewhere'))).rejects.toThrow(DecryptionError)
    expect(await keyring.decrypt(value, field(3))).toBe('bound to row 3')
  })

  it('keeps the parts of the associated data apart (no ambiguous concatenation)', () => {
    const a = fieldContext({ table: 'a|b', column: 'c', rowKey: '1' }, 1)
    const b = fieldContext({ table: 'a', column: 'b|c', rowKey: '1' }, 1)
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false)
  })

  it('refuses a malformed value with a clear error', async () => {
    await expect(keyring.decrypt('plaintext!', field(1))).rejects.toThrow(/not a pgAnalytics ciphertext/)
    await expect(keyring.decrypt('pga:v1:99:AAAA', field(1))).rejects.toThrow(/data key v99 does not exist/)
  })

  it('refuses a wrong master key by name, and changes nothing', async () => {
    const before = await db.sql`select * from pga_data_keys order by version`
    const wrong = await newKek()
    const error = await Keyring.open({ db, kek: wrong, log }).catch((e) => e)
    expect(error).toBeInstanceOf(MasterKeyError)
    expect(error.message).toContain(
      `wrapped by master key ${kek.id}, but the configured master key is ${wrong.id}`,
    )
    expect(await db.sql`select * from pga_data_keys order by version`).toEqual(before)
  })
})

describe('keyring: rotation, rewrap and retirement', () => {
  it('decrypts old versions until retired, then refuses them', async () => {
    const db = await freshStore()
    const keyring = await Keyring.open({ db, kek: await newKek(), log })
    const id = await insertSecret(db, keyring, 'from v1')
    const [{ secret_enc: underV1 }] =
      (await db.sql`select secret_enc from secrets where id = ${id}`) as unknown as [{ secret_enc: string }]
    expect(await keyring.rotate('test')).toBe(2)
    expect(await readSecret(db, keyring, id)).toBe('from v1')
    expect((await keyring.encrypt('new', field(id))).startsWith('pga:v1:2:')).toBe(true)

    const outcome = await rewrapStaleValues({
      db,
      state: createMemoryStateStore(),
      keyring,
      log,
      holder: 'a',
      settleMs: 0,
    })
    expect(outcome).toMatchObject({ status: 'rewrapped', retired: [1], waitingToRetire: [] })
    expect(await readSecret(db, keyring, id)).toBe('from v1')
    await expect(keyring.decrypt(underV1, field(id))).rejects.toThrow(KeyRetiredError)
    await expect(keyring.decrypt(underV1, field(id))).rejects.toThrow('data key v1 is retired')
    const states = await db.sql`select version, state from pga_data_keys order by version`
    expect(states).toEqual([
      { version: 1, state: 'retired' },
      { version: 2, state: 'active' },
    ])
  })

  it('waits for the settle period before retiring', async () => {
    const db = await freshStore()
    const keyring = await Keyring.open({ db, kek: await newKek(), log })
    await insertSecret(db, keyring, 'x')
    await keyring.rotate('test')
    const state = createMemoryStateStore()
    const early = await rewrapStaleValues({ db, state, keyring, log, holder: 'a', settleMs: 60_000 })
    expect(early).toMatchObject({ status: 'rewrapped', retired: [], waitingToRetire: [1] })
    expect(await rewrapStaleValues({ db, state, keyring, log, holder: 'a', settleMs: 0 })).toMatchObject({
      retired: [1],
    })
  })

  it('lets one rewrapper work at a time (lease)', async () => {
    const db = await freshStore()
    const keyring = await Keyring.open({ db, kek: await newKek(), log })
    await keyring.rotate('test')
    const state = createMemoryStateStore()
    const held = await state.acquireLease('keys:rewrap', 'other-replica', 30_000)
    expect(held).toMatchObject({ holder: 'other-replica', fence: 1 })
    expect(await rewrapStaleValues({ db, state, keyring, log, holder: 'me' })).toEqual({ status: 'busy' })
  })

  it('replicas starting together on a new store create one first key', async () => {
    const db = await freshStore()
    const kek = await newKek()
    const keyrings = await Promise.all(Array.from({ length: 4 }, () => Keyring.open({ db, kek, log })))
    expect(keyrings.map((k) => k.activeVersion())).toEqual([1, 1, 1, 1])
    expect(await db.sql`select version, state from pga_data_keys`).toEqual([{ version: 1, state: 'active' }])
  })

  it('two replicas rotating at once create one new key', async () => {
    const db = await freshStore()
    const kek = await newKek()
    const [a, b] = await Promise.all([Keyring.open({ db, kek, log }), Keyring.open({ db, kek, log })])
    const versions = await Promise.all([(a as Keyring).rotate('auto', 1), (b as Keyring).rotate('auto', 1)])
    expect(versions).toEqual([2, 2])
    expect(await db.sql`select count(*)::int as n from pga_data_keys where state = 'active'`).toEqual([
      { n: 1 },
    ])
  })

  it('loses nothing when rotation and rewrap run while another replica keeps writing', async () => {
    const db = await freshStore()
    const kek = await newKek()
    const operator = await Keyring.open({ db, kek, log })
    // A second replica, which notices rotations only when its reservation expires.
    const writer = await Keyring.open({ db, kek, log, options: { reserveBlock: 64, reservationTtlMs: 100 } })
    const expected = new Map<number, string>()
    for (let i = 0; i < 200; i++) {
      const text = `initial ${i}`
      expected.set(await insertSecret(db, writer, text), text)
    }
    let writing = true
    let n = 0
    const writes = (async () => {
      while (writing) {
        n++
        const text = `written ${n}`
        if (n % 2 === 0) {
          expected.set(await insertSecret(db, writer, text), text)
        } else {
          const ids = [...expected.keys()]
          const id = ids[n % ids.length] as number
          await db.sql`update secrets set secret_enc = ${await writer.encrypt(text, field(id))} where id = ${id}`
          expected.set(id, text)
        }
      }
      return n
    })()
    const state = createMemoryStateStore()
    const beforeRotations = n
    await operator.rotate('test 1')
    await rewrapStaleValues({ db, state, keyring: operator, log, holder: 'op', batchSize: 25, settleMs: 400 })
    await operator.rotate('test 2')
    await rewrapStaleValues({ db, state, keyring: operator, log, holder: 'op', batchSize: 25, settleMs: 400 })
    // The writer kept writing through both rotations, and goes on a while after them (long past
    // its 100 ms reservation, so it follows the rotation).
    const duringRotations = n - beforeRotations
    expect(duringRotations).toBeGreaterThan(0)
    const afterRotations = n
    await until('the writer writes on after the rotations', () => n >= afterRotations + 20, {
      timeoutMs: 30_000,
    })
    writing = false
    await writes
    // Once the writer has followed the rotation, passes move stragglers and, once version 2 has
    // settled (400 ms after the rotation), retire it. (When the second pass took longer than that,
    // it retired version 2 itself: nothing is left to do.)
    await until('a pass to retire version 2', async () => {
      const pass = await rewrapStaleValues({ db, state, keyring: operator, log, holder: 'op', settleMs: 400 })
      if (pass.status === 'nothing-to-do') return pass
      expect(pass.status).toBe('rewrapped')
      return pass.status === 'rewrapped' && pass.waitingToRetire.length === 0 ? pass : undefined
    })
    expect(
      (await db.sql`select version, state from pga_data_keys order by version`).map((r) => r.state),
    ).toEqual(['retired', 'retired', 'active'])
    const rows = await db.sql<
      { id: string; secret_enc: string }[]
    >`select id::text as id, secret_enc from secrets`
    expect(rows).toHaveLength(expected.size)
    for (const row of rows) {
      expect(row.secret_enc.startsWith('pga:v1:3:'), `row ${row.id}`).toBe(true)
      expect(await operator.decrypt(row.secret_enc, field(row.id))).toBe(expected.get(Number(row.id)))
    }
  }, 60_000)
})

describe('keyring: limits and the master key', () => {
  it('rotates automatically when the encryption budget is spent, never under-counting', async () => {
    const db = await freshStore()
    const keyring = await Keyring.open({
      db,
      kek: await newKek(),
      log,
      options: { rotateAfterEncryptions: 2048, reserveBlock: 1024 },
    })
    for (let i = 0; i < 5000; i++) await keyring.encrypt(`v${i}`, field(i))
    const keys = await db.sql<{ version: number; encryptions: string }[]>`
      select version, encryptions::text as encryptions from pga_data_keys order by version`
    expect(keys.length).toBeGreaterThanOrEqual(3)
    const reserved = keys.reduce((sum, k) => sum + Number(k.encryptions), 0)
    expect(reserved).toBeGreaterThanOrEqual(5000)
    for (const key of keys) expect(Number(key.encryptions)).toBeLessThanOrEqual(2048 + 1024)
  }, 30_000)

  it('rotates the master key by re-wrapping data keys only', async () => {
    const db = await freshStore()
    const oldKek = await newKek()
    const before = await Keyring.open({ db, kek: oldKek, log })
    const id = await insertSecret(db, before, 'survives KEK rotation')
    await before.rotate('two keys')
    const [{ secret_enc: stored }] =
      (await db.sql`select secret_enc from secrets where id = ${id}`) as unknown as [{ secret_enc: string }]
    const newKekValue = await newKek()
    const during = await Keyring.open({ db, kek: newKekValue, previousKek: oldKek, log })
    expect(await during.rotateMasterKey()).toEqual([1, 2])
    expect((await db.sql`select distinct kek_id from pga_data_keys`).map((r) => r.kek_id)).toEqual([
      newKekValue.id,
    ])
    expect((await db.sql`select secret_enc from secrets where id = ${id}`)[0]?.secret_enc).toBe(stored)
    const after = await Keyring.open({ db, kek: newKekValue, log })
    expect(await readSecret(db, after, id)).toBe('survives KEK rotation')
    await expect(Keyring.open({ db, kek: oldKek, log })).rejects.toThrow(MasterKeyError)
  })

  it('uses no nonce twice in 10^6 encryptions', async () => {
    const db = await freshStore()
    const keyring = await Keyring.open({ db, kek: await newKek(), log, options: { reserveBlock: 100_000 } })
    const nonces = new Set<string>()
    const batch = 2000
    for (let done = 0; done < 1_000_000; done += batch) {
      const values = await Promise.all(
        Array.from({ length: batch }, (_, i) => keyring.encrypt('x', field(done + i))),
      )
      // 12 nonce bytes are the first 16 base64url characters of the data part.
      for (const value of values) nonces.add(value.slice('pga:v1:1:'.length, 'pga:v1:1:'.length + 16))
    }
    expect(nonces.size).toBe(1_000_000)
  }, 180_000)

  it('writes no secret to the log', () => {
    const text = logs.text()
    expect(text).not.toMatch(/s3cr3t|survives KEK rotation|from v1|initial \d/)
    expect(text).toContain('data key rotated')
  })
})
