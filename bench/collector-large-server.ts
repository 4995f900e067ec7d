// Large-server scenario of the collector benchmark (`bench/collector.ts --scenario large-server`).
// It PRINTS figures; it never passes or fails on them. One throwaway PostgreSQL cluster holds
// --tables tables spread over --databases databases (each table with a primary key and a text
// column: four relations with its index, TOAST table and TOAST index, plus an index on the text
// column with --indexes-per-table 2, the default, as most tables have more than their primary
// key; every 50th table has rows
// and statistics), plus a reference database of --reference-tables tables. --locked tables are
// held under an AccessExclusiveLock by open transactions for the whole measurement. Then every
// catalog group runs once per database (per-database groups) or once (instance groups), the way
// the collector runs them (fetchRows, the production statement_timeout and lock_timeout), on a
// fresh connection each, --rounds times; reported per group: duration (median of the rounds),
// rows stored, failures, and the CPU the monitored backend spent (/proc/<pid>/stat). The
// tables/indexes cost of one large database is compared with the reference database's.
// Run from the repository root (reduced scale first; the full scale takes long to build):
//   node_modules/.bin/bun bench/collector.ts --scenario large-server [--tables 100000]
//     [--databases 10] [--reference-tables 1000] [--indexes-per-table 2] [--locked 3] [--rounds 3]
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { metricGroups, planGroup, queryParams } from '../src/collector/catalog/index.ts'
import { fetchRows } from '../src/collector/worker-helpers.ts'
import { monitoringSessionSettings } from '../src/instances/connection-test.ts'
import { probeCapabilities } from '../src/instances/probe.ts'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { databaseUrl, runBench } from './support.ts'

type Options = {
  tables: number
  databases: number
  referenceTables: number
  indexesPerTable: number
  locked: number
  rounds: number
  statementTimeoutMs: number
  lockTimeoutMs: number
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' },
      tables: { type: 'string', default: '100000' },
      databases: { type: 'string', default: '10' },
      'reference-tables': { type: 'string', default: '1000' },
      'indexes-per-table': { type: 'string', default: '2' },
      locked: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      'statement-timeout-ms': { type: 'string', default: '5000' },
      'lock-timeout-ms': { type: 'string', default: '1000' },
    },
    strict: true,
  })
  const int = (name: keyof typeof values, min: number) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`)
    return n
  }
  return {
    tables: int('tables', 1),
    databases: int('databases', 1),
    referenceTables: int('reference-tables', 1),
    indexesPerTable: Math.min(2, int('indexes-per-table', 1)),
    locked: int('locked', 0),
    rounds: int('rounds', 1),
    statementTimeoutMs: int('statement-timeout-ms', 100),
    lockTimeoutMs: int('lock-timeout-ms', 10),
  }
}

const clockTicks = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()) || 100
/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

let cluster: TestPostgres | undefined
const holders: postgres.Sql[] = []

async function cleanup() {
  for (const holder of holders) await holder.end({ timeout: 1 }).catch(() => {})
  await cluster?.stop()
}

const connect = (database: string, options: Partial<Options> = {}) => {
  return postgres(databaseUrl(cluster?.url as string, database), {
    max: 1,
    onnotice: () => {},
    connection: {
      application_name: 'pga bench large-server',
      ...monitoringSessionSettings,
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
    },
  })
}

/** Tables in batches: one transaction holds a lock per relation it creates. */
async function createTables(database: string, count: number, indexesPerTable: number) {
  const sql = connect(database)
  try {
    for (let from = 1; from <= count; from += 500) {
      const to = Math.min(count, from + 499)
      await sql.unsafe(`do $$ begin
        for i in ${from}..${to} loop
          execute format('create table t_%s (id int primary key, payload text)', i);
          ${indexesPerTable > 1 ? "execute format('create index t_%s_payload on t_%s (payload)', i, i);" : ''}
          if i % 50 = 0 then
            execute format('insert into t_%s select g, repeat(''x'', 200) from generate_series(1, 200) g', i);
            execute format('analyze t_%s', i);
          end if;
        end loop; end $$`)
    }
  } finally {
    await sql.end()
  }
}

type Measure = { ms: number[]; rows: number; cpu: number; failures: string[] }

/** One group in one database on a fresh connection, as the collector runs it. */
async function measure(
  group: (typeof metricGroups)[number],
  database: string,
  options: Options,
  into: Measure,
) {
  const sql = connect(database, options)
  try {
    const capabilities = await probeCapabilities(sql)
    const plan = planGroup(group, capabilities)
    if ('unavailable' in plan) return
    const [{ pid }] = (await sql`select pg_backend_pid() as pid`) as unknown as [{ pid: number }]
    const cpuBefore = cpuSeconds(pid)
    const started = performance.now()
    try {
      const fetched = await fetchRows(sql, plan, queryParams(group, plan))
      into.rows += (JSON.parse(fetched.rows) as unknown[]).length
    } catch (error) {
      into.failures.push(`${database}: ${(error as Error).message}`)
    }
    into.ms.push(performance.now() - started)
    into.cpu += cpuSeconds(pid) - cpuBefore
  } finally {
    await sql.end()
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0 ? Number.NaN : (sorted[Math.floor((sorted.length - 1) / 2)] as number)
}

async function main(options: Options) {
  cluster = await startPostgres(['max_locks_per_transaction=256', 'autovacuum=off'])
  const admin = connect('postgres')
  const databases = Array.from({ length: options.databases }, (_, i) => `large_${i + 1}`)
  const perDatabase = Math.ceil(options.tables / options.databases)
  const built = performance.now()
  for (const database of [...databases, 'reference']) await admin.unsafe(`create database ${database}`)
  for (const database of databases) await createTables(database, perDatabase, options.indexesPerTable)
  await createTables('reference', options.referenceTables, options.indexesPerTable)
  await admin`create extension pg_stat_statements`
  console.log(
    `built ${perDatabase * options.databases} tables in ${options.databases} databases and ${options.referenceTables} reference tables in ${((performance.now() - built) / 1000).toFixed(0)} s`,
  )
  // Locked tables (the ones with rows rank first, so they are among the kept rows), spread over databases.
  for (let i = 0; i < options.locked; i++) {
    const holder = connect(databases[i % databases.length] as string)
    holders.push(holder)
    const reserved = await holder.reserve()
    await reserved`begin`
    await reserved.unsafe(`lock table t_${50 * (i + 1)} in access exclusive mode`)
  }
  const results = new Map<string, Measure & { scope: string }>()
  const add = (key: string, scope: string) => {
    const existing = results.get(key)
    if (existing) return existing
    const fresh = { ms: [], rows: 0, cpu: 0, failures: [], scope }
    results.set(key, fresh)
    return fresh
  }
  for (let round = 0; round < options.rounds; round++) {
    for (const group of metricGroups) {
      if (group.scope === 'instance') {
        await measure(group, 'postgres', options, add(group.name, 'instance'))
        continue
      }
      // A whole round of a per-database group: every large database, summed.
      const whole: Measure = { ms: [], rows: 0, cpu: 0, failures: [] }
      for (const database of databases) await measure(group, database, options, whole)
      const total = add(`${group.name} (all ${databases.length} large databases)`, 'server round')
      total.ms.push(whole.ms.reduce((a, b) => a + b, 0))
      total.rows += whole.rows
      total.cpu += whole.cpu
      total.failures.push(...whole.failures)
      await measure(
        group,
        databases[0] as string,
        options,
        add(`${group.name} (one large database)`, 'database'),
      )
      await measure(group, 'reference', options, add(`${group.name} (reference database)`, 'database'))
    }
  }
  await admin.end()
  const rows = [...results.entries()].map(([name, m]) => ({
    group: name,
    scope: m.scope,
    medianMs: Number(median(m.ms).toFixed(1)),
    rowsPerRound: Math.round(m.rows / options.rounds),
    cpuMsPerRound: Number(((m.cpu * 1000) / options.rounds).toFixed(1)),
    failures: m.failures.length,
  }))
  const header = ['group', 'scope', 'median ms', 'rows/round', 'backend CPU ms/round', 'failures']
  const lines = rows.map((r) => [
    r.group,
    r.scope,
    String(r.medianMs),
    String(r.rowsPerRound),
    String(r.cpuMsPerRound),
    String(r.failures),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)))
  for (const line of [header, ...lines])
    console.log(line.map((cell, i) => cell.padEnd(widths[i] as number)).join('  '))
  for (const [name, m] of results)
    for (const failure of m.failures.slice(0, 3)) console.log(`failure ${name}: ${failure}`)
  const ratio = (group: string) => {
    const large = results.get(`${group} (one large database)`)
    const reference = results.get(`${group} (reference database)`)
    return large && reference ? Number((median(large.ms) / median(reference.ms)).toFixed(2)) : null
  }
  const summary = {
    scenario: 'large-server',
    options,
    tablesPerLargeDatabase: perDatabase,
    machine: { cpus: cpus().length, load: loadavg().map((l) => Number(l.toFixed(2))) },
    ratioToReference: { tables: ratio('tables'), indexes: ratio('indexes') },
    groups: rows,
  }
  console.log(
    `tables round in one ${perDatabase}-table database: ${summary.ratioToReference.tables}× the ${options.referenceTables}-table reference; indexes: ${summary.ratioToReference.indexes}×`,
  )
  console.log(`JSON ${JSON.stringify(summary)}`)
}

/** Entry from bench/collector.ts. */
export async function runLargeServer(argv: string[]): Promise<never> {
  const options = parseOptions(argv)
  const watchdogMs = (900 + options.tables / 20 + options.rounds * 300) * 1000
  return runBench('bench/collector.ts --scenario large-server', () => main(options), cleanup, watchdogMs)
}
