// API fuzz run, longer than the one in `npm test` (test/e2e/fuzz.test.ts). It PRINTS counts; the
// exit code is 1 when schemathesis reports a failure. What it does:
//   1. builds dist/ when older than src/ (test/support/service-process.ts), starts a throwaway
//      PostgreSQL 15 cluster and Redis (test/harness/) and the compiled binary over them with the
//      fuzz settings (fuzzServiceEnv in test/support/fuzz.ts: collector and backup runner off,
//      sign-in rate limits raised, 1 s connect deadline);
//   2. runs schemathesis (`st`, scripts/ensure-tools.sh) phase by phase (test/support/fuzz.ts):
//      every operation, all default checks and st phases (examples, coverage, fuzzing, stateful),
//      --max-examples per operation, a fixed --seed, signing in a new administrator per phase and
//      again on 401/403 (test/fuzz/hooks.py);
//   3. prints per phase: operations, st's test cases / failures / errors (JUnit report), the exit
//      code, the time taken and st's summary; then every service log line at error level.
// Run from the repository root (about 10 minutes with the defaults on 2 cores):
//   node_modules/.bin/bun bench/fuzz.ts [--max-examples 100] [--seed 1604] [--workers 1]
//     [--phase api|own-credentials]
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createTestDatabase, startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { startRedis, type TestRedis } from '../test/harness/redis.ts'
import { fuzzPhases, fuzzServiceEnv, runFuzzPhase } from '../test/support/fuzz.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../test/support/service-process.ts'
import { runBench } from './support.ts'

const { values } = parseArgs({
  options: {
    'max-examples': { type: 'string', default: '100' },
    seed: { type: 'string', default: '1604' },
    workers: { type: 'string', default: '1' },
    phase: { type: 'string' },
  },
})

let pg: TestPostgres | undefined
let redis: TestRedis | undefined
let service: ServiceProcess | undefined

async function main() {
  const binary = await binaryInEmptyDir('fuzz-bench')
  pg = await startPostgres()
  redis = await startRedis()
  const adminToken = randomBytes(24).toString('hex')
  service = await startService({
    command: binary,
    cwd: binary.replace(/\/pganalytics$/, ''),
    timeoutMs: 60_000,
    env: fuzzServiceEnv({
      databaseUrl: await createTestDatabase(pg.url, 'pga_fuzz'),
      redisUrl: redis.url,
      masterKey: randomBytes(32).toString('base64'),
      adminToken,
    }),
  })
  console.log(`service ${service.url}, seed ${values.seed}, max examples ${values['max-examples']}`)
  let failed = false
  for (const phase of fuzzPhases.filter((p) => !values.phase || p.name === values.phase)) {
    const started = performance.now()
    const run = await runFuzzPhase({
      url: service.url,
      adminToken,
      phase,
      seed: Number(values.seed),
      maxExamples: Number(values['max-examples']),
      workers: Number(values.workers),
    })
    const seconds = (performance.now() - started) / 1000
    const summary = run.output.slice(
      run.output.lastIndexOf('=== SUMMARY') >= 0 ? run.output.lastIndexOf('=== SUMMARY') : -3000,
    )
    console.log(
      `\n## phase ${run.phase}: ${run.operations} operations, ${seconds.toFixed(0)} s, exit ${run.exitCode}`,
    )
    console.log(
      `JUnit: ${run.report.tests} tests, ${run.report.failures} failures, ${run.report.errors} errors`,
    )
    console.log(run.exitCode === 0 ? summary : run.output)
    if (run.exitCode !== 0) failed = true
  }
  const errors = service.lines.filter((line) => /"level":"(error|fatal)"/.test(line))
  console.log(`\nservice error lines: ${errors.length}`)
  for (const line of errors.slice(0, 50)) console.log(line)
  if (failed) throw new Error('schemathesis reported failures')
}

async function cleanup() {
  await service?.stop()
  await Promise.all([pg?.stop(), redis?.stop()])
}

await runBench('bench/fuzz.ts', main, cleanup, 60 * 60_000)
