import postgres from 'postgres'
import { metricGroups, planGroup, queryParams } from '../src/collector/catalog/index.ts'
import { ensurePartitions } from '../src/collector/partitions.ts'
import { retentionPlan } from '../src/collector/service.ts'
import { writeSnapshot, writeSnapshots } from '../src/collector/snapshot-repo.ts'
import { fetchRows } from '../src/collector/worker-helpers.ts'
import { probeCapabilities } from '../src/instances/probe.ts'
import { readMigrationsDir } from '../src/platform/db/migration-files.ts'
import { runMigrations } from '../src/platform/db/migrations.ts'
import { createLogger } from '../src/platform/log.ts'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { clusterCpuSeconds, cpuSeconds } from './support.ts'

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const options = {
  rounds: option('rounds', 20),
  databases: option('databases', 5),
  tables: option('tables', 200),
}
const note = (text: string) => console.error(text)

/** CPU ms of a live process (a store backend). */
const procCpu = (pid: number) => cpuSeconds(pid) * 1000
const clusterCpu = (cluster: TestPostgres) => clusterCpuSeconds(cluster.dataDir) * 1000

const databases = Array.from({ length: options.databases }, (_, i) => `bench_${i + 1}`)

type Snapshot = {
  group: (typeof metricGroups)[number]
  datname: string | null
  source: string
  rows: string
  /** The same rows as an array of composite literals, in the catalog's column order. */
  records: string
}

async function fetchBoth(
  sql: postgres.Sql,
  group: Snapshot['group'],
  plan: { sql: string; source: string; counters?: string },
  datname: string | null,
): Promise<Snapshot> {
  const params = queryParams(group, plan)
  const json = await fetchRows(sql, plan, params)
  const records = await fetchRows(sql, plan, params, group.columns)
  return { group, datname, source: plan.source, rows: json.rows, records: records.rows }
}

async function oneRound(cluster: TestPostgres): Promise<Snapshot[]> {
  const admin = postgres(cluster.url, { max: 1, onnotice: () => {} })
  await admin`create role pga_bench login in role pg_monitor`
  for (const name of databases) {
    await admin.unsafe(`create database ${name}`)
    const db = postgres(cluster.url.replace(/\/postgres$/, `/${name}`), { max: 1, onnotice: () => {} })
    await db`create extension pg_stat_statements`
    await db.unsafe(`
      do $$ begin
        for i in 1..${options.tables} loop
          execute format('create table t_%s (id bigint primary key, note text)', i);
          execute format('insert into t_%s select g, md5(g::text) from generate_series(1, 20) g', i);
        end loop;
      end $$`)
    // Some statements and scans to report.
    for (let i = 1; i <= 50; i++) await db.unsafe(`select count(*) from t_${i} where id > ${i}`)
    await db`analyze`
    await db.end()
  }
  await admin.end()
  const url = (db: string) => cluster.url.replace('postgres@', 'pga_bench@').replace(/\/postgres$/, `/${db}`)
  const main = postgres(url('postgres'), { max: 1, onnotice: () => {} })
  const capabilities = await probeCapabilities(main)
  const snapshots: Snapshot[] = []
  const runnable = metricGroups.flatMap((group) => {
    const plan = planGroup(group, capabilities)
    return 'unavailable' in plan || plan.sampled ? [] : [{ group, plan }]
  })
  for (const { group, plan } of runnable.filter((r) => r.group.scope === 'instance')) {
    snapshots.push(await fetchBoth(main, group, plan, null))
  }
  for (const datname of ['postgres', ...databases]) {
    const sql = datname === 'postgres' ? main : postgres(url(datname), { max: 1, onnotice: () => {} })
    for (const { group, plan } of runnable.filter((r) => r.group.scope === 'database')) {
      snapshots.push(await fetchBoth(sql, group, plan, datname))
    }
    if (sql !== main) await sql.end()
  }
  await main.end()
  return snapshots
}

type Way = {
  name: string
  write(store: postgres.Sql, instanceId: string, takenAt: string, round: Snapshot[]): Promise<number>
}

const header = (instanceId: string, takenAt: string, s: Snapshot) => ({
  instanceId,
  group: s.group.name,
  datname: s.datname,
  takenAt,
  durationMs: 1,
  variant: s.source,
  replica: 'bench',
})

/** A round as the worker writes it: the instance-wide groups, then each database's groups, one
 * transaction each; optionally under a plan_cache_mode. */
async function writeBatched(
  store: postgres.Sql,
  instanceId: string,
  takenAt: string,
  round: Snapshot[],
  planCacheMode?: 'force_generic_plan' | 'force_custom_plan',
): Promise<number> {
  const batches = new Map<string, Snapshot[]>()
  for (const s of round) batches.set(s.datname ?? '', [...(batches.get(s.datname ?? '') ?? []), s])
  if (planCacheMode) await store`select set_config('plan_cache_mode', ${planCacheMode}, false)`
  let rows = 0
  for (const batch of batches.values()) {
    const written = await writeSnapshots(
      store,
      batch.map((s) => ({
        group: s.group,
        header: header(instanceId, takenAt, s),
        rows: s.records,
        format: 'records' as const,
      })),
    )
    rows += written.reduce((n, w) => n + w.rowCount, 0)
  }
  if (planCacheMode) await store`reset plan_cache_mode`
  return rows
}

const ways: Way[] = [
  {
    name: 'JSON objects, one statement per snapshot (before)',
    async write(store, instanceId, takenAt, round) {
      let rows = 0
      for (const s of round)
        rows += (await writeSnapshot(store, s.group, header(instanceId, takenAt, s), s.rows, 'json')).rowCount
      return rows
    },
  },
  {
    name: 'records, one statement per snapshot',
    async write(store, instanceId, takenAt, round) {
      let rows = 0
      for (const s of round)
        rows += (await writeSnapshot(store, s.group, header(instanceId, takenAt, s), s.records, 'records'))
          .rowCount
      return rows
    },
  },
  {
    name: 'records, one transaction per database (after)',
    write: (store, instanceId, takenAt, round) => writeBatched(store, instanceId, takenAt, round),
  },
  {
    name: 'same, plan_cache_mode=force_generic_plan',
    write: (store, instanceId, takenAt, round) =>
      writeBatched(store, instanceId, takenAt, round, 'force_generic_plan'),
  },
  {
    name: 'same, plan_cache_mode=force_custom_plan',
    write: (store, instanceId, takenAt, round) =>
      writeBatched(store, instanceId, takenAt, round, 'force_custom_plan'),
  },
  {
    name: 'records, parse only (no insert)',
    async write(store, _instanceId, _takenAt, round) {
      let rows = 0
      for (const s of round) {
        const [r] = await store.unsafe<{ n: number }[]>(
          `select count(*)::int as n from unnest($1::text::${s.group.table}_row[])`,
          [s.records],
          { prepare: true },
        )
        rows += r?.n ?? 0
      }
      return rows
    },
  },
]

note('starting the monitored and store clusters')
const [monitored, storeCluster] = await Promise.all([startPostgres(), startPostgres()])
try {
  note('collecting one round from the monitored cluster')
  const round = await oneRound(monitored)
  const bytes = round.reduce((n, s) => n + s.rows.length, 0)
  const recordBytes = round.reduce((n, s) => n + s.records.length, 0)
  note(
    `one round: ${round.length} snapshots, ${(bytes / 1024).toFixed(0)} KiB of JSON, ${(recordBytes / 1024).toFixed(0)} KiB as records`,
  )
  const store = postgres(storeCluster.url, { max: 1, onnotice: () => {} })
  await runMigrations(store, readMigrationsDir(), createLogger({ level: 'warn' }))
  await ensurePartitions(store, retentionPlan({ retentionDays: {} } as never), Date.now())
  const results: Record<string, string | number>[] = []
  const start = Date.now() - 3_600_000
  for (const [w, way] of ways.entries()) {
    const instanceId = crypto.randomUUID()
    await store`insert into pga_instances (id, name, host, port, database, username, sslmode)
                values (${instanceId}, ${`bench-${w}`}, 'h', 5432, 'postgres', 'u', 'disable')`
    const [{ pid }] = (await store`select pg_backend_pid() as pid`) as unknown as [{ pid: number }]
    // One round unmeasured: prepared statements and caches warm.
    await way.write(store, instanceId, new Date(start - 15_000).toISOString(), round)
    const b0 = procCpu(pid)
    const c0 = clusterCpu(storeCluster)
    const t0 = performance.now()
    let rows = 0
    for (let r = 0; r < options.rounds; r++)
      rows += await way.write(store, instanceId, new Date(start + r * 15_000).toISOString(), round)
    const wall = performance.now() - t0
    await Bun.sleep(2000) // the WAL writer and autovacuum catch up inside the cluster figure
    results.push({
      way: way.name,
      'backend CPU ms/round': ((procCpu(pid) - b0) / options.rounds).toFixed(1),
      'cluster CPU ms/round': ((clusterCpu(storeCluster) - c0) / options.rounds).toFixed(1),
      'wall ms/round': (wall / options.rounds).toFixed(1),
      'rows/round': rows / options.rounds,
    })
  }
  await store.end()
  console.table(results)
} finally {
  await Promise.all([monitored.stop(), storeCluster.stop()])
}
