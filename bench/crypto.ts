// Encryption-at-rest figures: encrypt and decrypt of a 1 KB field through the keyring (ops/s
// and p99, one at a time and 256 in flight), and the rewrap rate on 100k rows in a real
// PostgreSQL. Prints a table and writes bench/results/crypto-latest.json; asserts nothing.
// Run: node_modules/.bin/bun bench/crypto.ts   (about 1 minute)
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { createLocalKek } from '../src/keys/kek.ts'
import { Keyring } from '../src/keys/keyring.ts'
import { rewrapStaleValues } from '../src/keys/rewrap.ts'
import { randomBytes } from '../src/platform/crypto/aes-gcm.ts'
import { openDatabase } from '../src/platform/db/database.ts'
import { readMigrationsDir } from '../src/platform/db/migration-files.ts'
import { runMigrations } from '../src/platform/db/migrations.ts'
import { createLogger } from '../src/platform/log.ts'
import { createMemoryStateStore } from '../src/platform/state/memory.ts'
import { createTestDatabase, startPostgres } from '../test/harness/postgres.ts'
import { quantile } from './support.ts'

const rewrapRows = 100_000
const opsSequential = 20_000
const opsBatched = 200_000
const inFlight = 256

const log = createLogger({ level: 'warn', write: () => {} })
type FieldOp = {
  name: string
  mode: string
  ops: number
  opsPerSecond: number
  p50Us?: number
  p99Us?: number
}
const field = (i: number) => ({ table: 'bench_secrets', column: 'secret_enc', rowKey: String(i) })

async function sequential(name: string, op: (i: number) => Promise<unknown>): Promise<FieldOp> {
  const times: number[] = []
  const started = performance.now()
  for (let i = 0; i < opsSequential; i++) {
    const t = performance.now()
    await op(i)
    times.push(performance.now() - t)
  }
  const seconds = (performance.now() - started) / 1000
  times.sort((a, b) => a - b)
  return {
    name,
    mode: 'one at a time',
    ops: opsSequential,
    opsPerSecond: Math.round(opsSequential / seconds),
    p50Us: Math.round(quantile(times, 0.5) * 1000),
    p99Us: Math.round(quantile(times, 0.99) * 1000),
  }
}

async function batched(name: string, op: (i: number) => Promise<unknown>): Promise<FieldOp> {
  const started = performance.now()
  for (let done = 0; done < opsBatched; done += inFlight)
    await Promise.all(Array.from({ length: inFlight }, (_, i) => op(done + i)))
  const seconds = (performance.now() - started) / 1000
  return {
    name,
    mode: `${inFlight} in flight`,
    ops: opsBatched,
    opsPerSecond: Math.round(opsBatched / seconds),
  }
}

const pg = await startPostgres()
try {
  const db = await openDatabase(
    {
      kind: 'postgres',
      url: await createTestDatabase(pg.url, 'pga_bench'),
      poolSize: 4,
      statementTimeoutMs: 600_000,
      connectTimeoutMs: 5000,
      ssl: 'disable',
    },
    { log },
  )
  await runMigrations(db.sql, readMigrationsDir(), log)
  const keyring = await Keyring.open({
    db,
    kek: await createLocalKek(randomBytes(32)),
    log,
    options: { reserveBlock: 65_536 },
  })
  const kilobyte = 'x'.repeat(1024)
  const sample = await keyring.encrypt(kilobyte, field(0))

  const fieldOps = [
    await sequential('encrypt 1 KB', (i) => keyring.encrypt(kilobyte, field(i))),
    await sequential('decrypt 1 KB', () => keyring.decrypt(sample, field(0))),
    await batched('encrypt 1 KB', (i) => keyring.encrypt(kilobyte, field(i))),
    await batched('decrypt 1 KB', () => keyring.decrypt(sample, field(0))),
  ]

  // Rewrap: 100k rows with a 64-byte secret each (a typical password / token), under v1, rotated to v2.
  await db.sql`create table bench_secrets (id bigint primary key, secret_enc text not null)`
  await db.sql`insert into pga_encrypted_columns values ('bench_secrets', 'secret_enc', 'id')`
  const secret = 's'.repeat(64)
  for (let start = 0; start < rewrapRows; start += 5000) {
    const rows = await Promise.all(
      Array.from({ length: 5000 }, async (_, i) => ({
        id: start + i,
        secret_enc: await keyring.encrypt(secret, field(start + i)),
      })),
    )
    await db.sql`insert into bench_secrets ${db.sql(rows)}`
  }
  await keyring.rotate('bench')
  const rewrap = []
  for (const batchSize of [500, 2000]) {
    const started = performance.now()
    const outcome = await rewrapStaleValues({
      db,
      state: createMemoryStateStore(),
      keyring,
      log,
      holder: 'bench',
      batchSize,
      settleMs: 0,
    })
    const seconds = (performance.now() - started) / 1000
    const done = outcome.status === 'rewrapped' ? Number(outcome.run.done) : 0
    rewrap.push({
      batchSize,
      rows: done,
      seconds: Math.round(seconds * 100) / 100,
      fieldsPerSecond: Math.round(done / seconds),
    })
    await keyring.rotate('bench again')
  }
  await db.close()

  const machine = {
    cpus: `${cpus().length} × ${cpus()[0]?.model.trim()}`,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    runtime: `bun ${Bun.version}`,
    postgres: pg.version,
  }
  console.log(`pgAnalytics crypto benchmark, ${new Date().toISOString()}`)
  console.log('command: node_modules/.bin/bun bench/crypto.ts')
  console.log(
    `machine: ${machine.cpus}, ${machine.memoryGiB} GiB, ${machine.runtime}, PostgreSQL ${machine.postgres}\n`,
  )
  console.log('Field encryption through the keyring (AES-256-GCM, Web Crypto)')
  console.log('operation       mode              ops/s      p50 µs  p99 µs')
  for (const r of fieldOps) {
    const lat = r.p99Us !== undefined ? `${String(r.p50Us).padStart(6)}  ${String(r.p99Us).padStart(6)}` : ''
    console.log(`${r.name.padEnd(15)} ${r.mode.padEnd(16)} ${String(r.opsPerSecond).padStart(8)}  ${lat}`)
  }
  console.log(
    `\nRewrap of ${rewrapRows} rows (decrypt + encrypt + compare-and-set update, one statement per batch)`,
  )
  console.log('batch size  rows     seconds  fields/s')
  for (const r of rewrap)
    console.log(
      `${String(r.batchSize).padEnd(10)}  ${String(r.rows).padEnd(7)}  ${String(r.seconds).padStart(7)}  ${String(r.fieldsPerSecond).padStart(8)}`,
    )
  mkdirSync(join(import.meta.dir, 'results'), { recursive: true })
  writeFileSync(
    join(import.meta.dir, 'results', 'crypto-latest.json'),
    JSON.stringify({ date: new Date().toISOString(), machine, fieldOps, rewrap }, null, 2),
  )
} finally {
  await pg.stop()
}
