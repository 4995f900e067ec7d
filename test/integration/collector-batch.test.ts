// A round's snapshots are stored in batches: the instance-wide groups in one store transaction,
// each database's groups in another (one commit each instead of one per snapshot, issue 17).
// When a batch fails, each of its snapshots is written alone, so one snapshot the store refuses
// costs only itself. A real worker collects a real database; the store refuses one table's rows
// through a trigger.
import postgres from 'postgres'
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import { metricGroups } from '../../src/collector/catalog/index.ts'
import { ensurePartitions } from '../../src/collector/partitions.ts'
import { retentionPlan } from '../../src/collector/service.ts'
import { readMigrationsDir } from '../../src/platform/db/migration-files.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { createLogger } from '../../src/platform/log.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { testInstanceWorker } from '../support/instance-worker.ts'

let monitoredUrl: string
let store: postgres.Sql
const perDatabase = ['tables', 'indexes', 'table_ages']
const instanceWide = ['database', 'bgwriter', 'settings']

beforeAll(async () => {
  monitoredUrl = await createTestDatabase(inject('pgUrl'), 'pga_batch')
  const monitored = postgres(monitoredUrl, { max: 1, onnotice: () => {} })
  await monitored`create table one (id int primary key)`
  await monitored`create table two (id int primary key)`
  await monitored.end()
  store = postgres(await createTestDatabase(inject('pgUrl'), 'pga_batch_store'), {
    max: 2,
    onnotice: () => {},
  })
  await runMigrations(store, readMigrationsDir(), createLogger({ level: 'error', write: () => {} }))
  await ensurePartitions(store, retentionPlan({ retentionDays: {} } as never), Date.now())
})
afterAll(async () => {
  await store?.end()
})

async function collectRound(): Promise<{ id: string; errors: string[] }> {
  const errors: string[] = []
  const log = createLogger({
    level: 'error',
    write: (line) => {
      errors.push(line)
    },
  })
  const wanted = [...perDatabase, ...instanceWide]
  const id = crypto.randomUUID()
  // Settings are remembered per instance (a foreign key to pga_instances).
  await store`insert into pga_instances (id, name, host, port, database, username, sslmode)
              values (${id}, ${`batch-${id}`}, 'h', 5432, 'postgres', 'u', 'disable')`
  const worker = testInstanceWorker({
    store,
    monitoredUrl,
    id,
    name: 'batch',
    intervals: Object.fromEntries(metricGroups.map((g) => [g.name, wanted.includes(g.name) ? 300 : 0])),
    log,
  })
  try {
    await worker.collectDue(Date.now())
  } finally {
    await worker.close()
  }
  return { id: worker.instance.id, errors }
}

/** Snapshots of an instance by group: status, rows, and the transaction that wrote each. */
const snapshotsOf = async (instanceId: string) =>
  store<{ group: string; status: string; rows: number; datname: string | null; xid: string }[]>`
    select group_name as group, status, row_count as rows, datname, xmin::text as xid
      from sn_stat_snapshot where instance_id = ${instanceId} order by group_name`

it('stores the instance-wide groups in one transaction and each database’s groups in another', async () => {
  const { id, errors } = await collectRound()
  expect(errors).toEqual([])
  const snapshots = await snapshotsOf(id)
  expect(snapshots.map((s) => s.group).sort()).toEqual([...perDatabase, ...instanceWide].sort())
  expect(snapshots.every((s) => s.status === 'ok')).toBe(true)
  const xids = (groups: string[]) =>
    new Set(snapshots.filter((s) => groups.includes(s.group)).map((s) => s.xid))
  expect(xids(instanceWide).size).toBe(1)
  expect(xids(perDatabase).size).toBe(1)
  expect([...xids(instanceWide)]).not.toEqual([...xids(perDatabase)])
  // The rows went in with their snapshot.
  const [tables] = await store<{ n: number }[]>`
    select count(*)::int as n from sn_stat_tables where instance_id = ${id} and relname in ('one', 'two')`
  expect(tables?.n).toBe(2)
})

it('a snapshot the store refuses costs only itself: the rest of its batch is stored', async () => {
  await store.unsafe(`
    create function pga_test_refuse() returns trigger language plpgsql as $$
      begin raise exception 'refused by the test'; end $$;
    create trigger refuse before insert on sn_stat_indexes for each row execute function pga_test_refuse();
    create trigger refuse before insert on sn_stat_bgwriter for each row execute function pga_test_refuse()`)
  try {
    const { id, errors } = await collectRound()
    const snapshots = await snapshotsOf(id)
    expect(snapshots.map((s) => s.group).sort()).toEqual(
      [...perDatabase, ...instanceWide].filter((g) => g !== 'indexes' && g !== 'bgwriter').sort(),
    )
    expect(snapshots.every((s) => s.status === 'ok' && s.rows > 0)).toBe(true)
    expect(errors.filter((e) => e.includes('could not store snapshot'))).toHaveLength(2)
    expect(errors.join('\n')).toContain('refused by the test')
  } finally {
    await store.unsafe(`drop trigger refuse on sn_stat_indexes; drop trigger refuse on sn_stat_bgwriter`)
  }
})
