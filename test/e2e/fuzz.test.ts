// API fuzzing in `npm test`: schemathesis (scripts/ensure-tools.sh) against the compiled binary
// over the real PostgreSQL and Redis, every operation of its OpenAPI document, all default checks
// and st phases (examples, coverage, fuzzing, stateful links), a fixed seed and a bounded number
// of examples per operation. Each phase signs in a new administrator of its own (and again after
// a 401/403, test/fuzz/hooks.py), so the operations that end the fuzzer's own session or password
// do not leave it blind. Any failure schemathesis reports fails the test, with st's output: a 5xx,
// a response the document does not describe (status, content type, headers, body schema), a
// request the document calls invalid that the API accepts, a wrong answer to an undeclared
// method... Only the rules listed in test/fuzz/accepted-rules.json (cross-field rules the
// document does not state) are dropped, by the hooks. The longer run: bench/fuzz.ts.
// docs/API_ROBUSTNESS.md.
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTestDatabase } from '../harness/postgres.ts'
import { fuzzPhases, fuzzServiceEnv, runFuzzPhase } from '../support/fuzz.ts'
import { testMasterKey } from '../support/master-key.ts'
import { binaryInEmptyDir, type ServiceProcess, startService } from '../support/service-process.ts'

/** Fixed, so a failure reproduces with `st run --seed`; bounded, so the run fits CI (the coverage
 * phase's boundary cases do not depend on it). bench/fuzz.ts runs 100 examples per operation. */
const seed = 1604
const maxExamples = 2
const adminToken = randomBytes(24).toString('hex')

let service: ServiceProcess

beforeAll(async () => {
  const binary = await binaryInEmptyDir('fuzz')
  service = await startService({
    command: binary,
    cwd: dirname(binary),
    timeoutMs: 60_000,
    env: fuzzServiceEnv({
      databaseUrl: await createTestDatabase(inject('pgUrl')),
      redisUrl: inject('redisUrl'),
      masterKey: testMasterKey,
      adminToken,
    }),
  })
}, 240_000)
afterAll(async () => {
  await service?.stop()
})

describe('schemathesis against the binary', () => {
  for (const phase of fuzzPhases) {
    it(`phase ${phase.name}: no failure on any operation`, async () => {
      const run = await runFuzzPhase({ url: service.url, adminToken, phase, seed, maxExamples })
      expect(run.exitCode, run.output).toBe(0)
      // st ran the operations of the phase (one JUnit test case per operation).
      expect(run.report.tests, run.output).toBeGreaterThanOrEqual(run.operations)
      expect(run.report.failures + run.report.errors, run.output).toBe(0)
    }, 600_000)
  }

  it('the service logged no unhandled error meanwhile', () => {
    const errors = service.lines.filter((line) => /"level":"(error|fatal)"/.test(line))
    expect(errors).toEqual([])
  })
})
