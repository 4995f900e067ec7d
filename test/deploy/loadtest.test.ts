// loadtest/: the scenario documents are valid and name only routes of openapi/openapi.json; the
// k6 scripts read only existing scenarios, agree with the runner on what they send and pass
// tsc with @types/k6 (and the check can fail); each scenario runs as a short smoke through the
// vegeta runner against one replica of the compiled binary, and every request is accounted for.
// No latency figure is asserted here: the goals are for the full runs (docs/PERFORMANCE.md).
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { createSecureServer } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  callApi,
  cleanupTarget,
  isError,
  type LoadTarget,
  loadScenario,
  prepareTarget,
  type RequestResult,
  runScenario,
  scenarioNames,
  summarize,
} from '../../loadtest/runner.ts'
import {
  buildRequest,
  mixCycle,
  parseScenario,
  requestValues,
  type Scenario,
} from '../../loadtest/scenario.ts'
import { makeCertificates } from '../harness/certificates.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { toolPath } from '../harness/tools.ts'
import { testMasterKey } from '../support/master-key.ts'
import {
  binaryInEmptyDir,
  bunBin,
  repoRoot,
  type ServiceProcess,
  startService,
} from '../support/service-process.ts'

const email = 'ops@example.com'
const password = 'a long load test passphrase'
const k6Dir = join(repoRoot, 'loadtest', 'k6')
const tscBin = join(repoRoot, 'node_modules', '.bin', 'tsc')
const vegeta = toolPath('vegeta')

type K6Lib = {
  mixCycle(weights: number[]): number[]
  requestValues(scenario: unknown, context: object, pick: (list: string[]) => string): Record<string, string>
  buildRequest(spec: unknown, values: Record<string, string>, auth: object): Record<string, unknown>
  runShape(
    scenario: unknown,
    env: Record<string, string>,
  ): { rate: number; durationSeconds: number; workers: number }
  k6Options(
    scenario: unknown,
    shape: object,
  ): {
    scenarios: Record<string, Record<string, unknown>>
    thresholds: Record<string, string[]>
  }
}
const loadK6Lib = async () =>
  (await import(pathToFileURL(join(k6Dir, 'lib', 'scenario.js')).href)) as unknown as K6Lib

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
function runCommand(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}) {
  return new Promise<{ code: number | null; output: string; stdout: string }>((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd ?? repoRoot, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, output: `${stdout}${stderr}`, stdout })
      },
    )
  })
}

/** vegeta processes whose parent is this process (none may outlive a run). */
function vegetaChildren(): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8')
      if (/^Name:\s+vegeta$/m.test(status) && new RegExp(`^PPid:\\s+${process.pid}$`, 'm').test(status))
        pids.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return pids
}

/** A TLS-terminating proxy (HTTP/2 and HTTP/1.1, like the load balancer) in front of a replica;
 * records the HTTP versions its clients spoke. */
async function startTlsProxy(upstreamPort: number) {
  const tls = await makeCertificates(tempDir('loadtest-tls'))
  const versions = new Set<string>()
  const agent = new Agent({ keepAlive: true })
  const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'])
  const server = createSecureServer(
    { key: readFileSync(tls.key), cert: readFileSync(tls.cert), allowHTTP1: true },
    (req, res) => {
      versions.add(req.httpVersion)
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([name]) => !name.startsWith(':') && !hopByHop.has(name)),
      )
      const upstream = httpRequest(
        { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent },
        (reply) => {
          const replyHeaders = Object.fromEntries(
            Object.entries(reply.headers).filter(([name]) => !hopByHop.has(name)),
          )
          res.writeHead(reply.statusCode ?? 502, replyHeaders)
          reply.pipe(res)
        },
      )
      upstream.on('error', () => {
        res.writeHead(502)
        res.end()
      })
      req.pipe(upstream)
    },
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}`,
    ca: tls.ca,
    versions,
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy()
        server.close(() => resolve())
      }),
  }
}

describe('scenario documents', () => {
  const names = scenarioNames()
  const scenarios = names.map(loadScenario)
  const openapi = JSON.parse(readFileSync(join(repoRoot, 'openapi', 'openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, unknown>>
  }
  const hasRoute = (method: string, path: string) => Boolean(openapi.paths[path]?.[method.toLowerCase()])

  it('exist for read throughput, a write mix and failover, and validate', () => {
    expect(names).toEqual(expect.arrayContaining(['failover', 'read-throughput', 'write-mix']))
    for (const scenario of scenarios) {
      expect(scenario.requests.length).toBeGreaterThan(0)
      expect(scenario.smoke.durationSeconds).toBeLessThanOrEqual(5)
    }
    const failover = scenarios.find((s) => s.name === 'failover') as Scenario
    expect(failover.rate).toBeGreaterThan(0)
    expect(failover.thresholds.maxErrorRate).toBe(0)
    expect(failover.requests.some((r) => r.method !== 'GET')).toBe(true)
  })

  it('name only routes of openapi/openapi.json (method and path template)', () => {
    for (const scenario of scenarios)
      for (const request of scenario.requests)
        expect(
          hasRoute(request.method, request.path),
          `${scenario.name}: ${request.method} ${request.path}`,
        ).toBe(true)
    // The routes the shared set-up and clean-up call.
    for (const [method, path] of [
      ['POST', '/api/v1/auth/login'],
      ['POST', '/api/v1/auth/logout'],
      ['POST', '/api/v1/api-keys'],
      ['DELETE', '/api/v1/api-keys/{id}'],
      ['POST', '/api/v1/instances'],
      ['GET', '/api/v1/instances'],
      ['DELETE', '/api/v1/instances/{id}'],
    ] as const)
      expect(hasRoute(method, path), `${method} ${path}`).toBe(true)
  })

  it('send writes with an Idempotency-Key, and tag what they create with the run id', () => {
    for (const scenario of scenarios) {
      for (const request of scenario.requests) {
        if (request.method === 'GET') continue
        expect(request.idempotencyKey, `${scenario.name}: ${request.name}`).toBe(true)
        expect(
          request.expect.every((s) => s < 300),
          `${scenario.name}: ${request.name}`,
        ).toBe(true)
      }
      const creations = [
        ...scenario.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/instances'),
        ...(scenario.setup.instances
          ? [{ query: { test: 'false' }, body: scenario.setup.instances.body }]
          : []),
      ]
      for (const creation of creations) {
        expect(creation.query).toEqual({ test: 'false' })
        expect(creation.body).toMatchObject({ enabled: false, tags: { loadtest: '{{runId}}' } })
      }
    }
  })

  it('are refused when wrong: unknown placeholder, path parameter without a value, GET with a body', () => {
    const base = JSON.parse(readFileSync(join(repoRoot, 'loadtest', 'scenarios', 'write-mix.json'), 'utf8'))
    const broken = (change: (doc: { requests: Record<string, unknown>[] }) => void) => {
      const doc = structuredClone(base)
      change(doc)
      return () => parseScenario(doc, 'broken')
    }
    expect(broken(() => {})).not.toThrow()
    expect(
      broken((d) => {
        d.requests[0] = { ...d.requests[0], params: { id: '{{nothing}}' } }
      }),
    ).toThrow(/unknown placeholder \{\{nothing\}\}/)
    expect(
      broken((d) => {
        d.requests[0] = { ...d.requests[0], params: {} }
      }),
    ).toThrow(/no value for \{id\}/)
    expect(
      broken((d) => {
        d.requests[0] = { ...d.requests[0], body: { a: 1 } }
      }),
    ).toThrow(/GET carries no body/)
  })

  it('have one k6 script each, and the k6 scripts read only scenarios that exist', () => {
    const scripts = readdirSync(k6Dir).filter((f) => f.endsWith('.js'))
    const opened = scripts.map((script) => {
      const source = readFileSync(join(k6Dir, script), 'utf8')
      const files = [...source.matchAll(/open\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] as string)
      expect(files, script).toHaveLength(1)
      const match = /^\.\.\/scenarios\/([a-z0-9-]+)\.json$/.exec(files[0] as string)
      expect(match, `${script} opens ${files[0]}`).not.toBeNull()
      expect(names, script).toContain(match?.[1])
      expect(script).toBe(`${match?.[1]}.js`)
      return match?.[1]
    })
    expect(opened.sort()).toEqual(names)
  })

  it('mean the same to the k6 scripts as to the runner: order, requests, options and thresholds', async () => {
    const k6 = await loadK6Lib()
    for (const scenario of scenarios) {
      const raw = JSON.parse(
        readFileSync(join(repoRoot, 'loadtest', 'scenarios', `${scenario.name}.json`), 'utf8'),
      )
      const weights = scenario.requests.map((r) => r.weight)
      const cycle = mixCycle(weights)
      expect(k6.mixCycle(weights)).toEqual(cycle)
      for (const [index, spec] of scenario.requests.entries())
        expect(cycle.filter((i) => i === index)).toHaveLength(spec.weight)
      const setup = {
        instanceId: ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'],
      }
      for (let seq = 0; seq < cycle.length * 2; seq++) {
        const context = {
          seq,
          runId: 'abcd1234',
          uuid: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
          setup,
        }
        const pick = (list: readonly string[]) => list[seq % list.length] as string
        const spec = scenario.requests[cycle[seq % cycle.length] as number]
        const auth = { token: 'pgak_test', idempotencyKey: `key-${seq}` }
        const ours = buildRequest(spec as never, requestValues(scenario, context, pick), auth)
        const theirs = k6.buildRequest(
          raw.requests[cycle[seq % cycle.length] as number],
          k6.requestValues(raw, context, pick),
          auth,
        )
        expect({ ...theirs, expect: undefined }).toEqual({ ...ours, expect: undefined })
        expect(theirs.expect).toEqual(spec?.expect)
      }
      const shape = k6.runShape(raw, {})
      expect(shape).toEqual({
        rate: scenario.rate,
        durationSeconds: scenario.durationSeconds,
        workers: scenario.workers,
      })
      expect(k6.runShape(raw, { SMOKE: '1', WORKERS: '3' })).toEqual({ ...scenario.smoke, workers: 3 })
      const options = k6.k6Options(raw, shape)
      const executor = options.scenarios[scenario.name]
      if (scenario.rate > 0)
        expect(executor).toMatchObject({
          executor: 'constant-arrival-rate',
          rate: scenario.rate,
          timeUnit: '1s',
          duration: `${scenario.durationSeconds}s`,
          preAllocatedVUs: scenario.workers,
        })
      else expect(executor).toMatchObject({ executor: 'constant-vus', vus: scenario.workers })
      expect(options.thresholds).toEqual({
        'http_req_duration{kind:load}': [
          `p(95)<=${scenario.thresholds.p95Ms}`,
          `p(99)<=${scenario.thresholds.p99Ms}`,
        ],
        'http_req_failed{kind:load}': [`rate<=${scenario.thresholds.maxErrorRate}`],
      })
    }
  })
})

describe('k6 scripts type check with @types/k6', () => {
  it('pass tsc -p loadtest/k6/tsconfig.json', async () => {
    const result = await runCommand(tscBin, ['-p', join(k6Dir, 'tsconfig.json')])
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  })

  it('fail the same check when a script misuses the k6 API', async () => {
    const dir = tempDir('k6-typecheck')
    const config = JSON.parse(readFileSync(join(k6Dir, 'tsconfig.json'), 'utf8'))
    config.compilerOptions.typeRoots = [join(repoRoot, 'node_modules', '@types')]
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config))
    writeFileSync(
      join(dir, 'wrong.js'),
      [
        "import http from 'k6/http'",
        "export const options = { scenarios: { a: { executor: 'constant-arrival-rate', rate: '10' } } }",
        'export default function () {',
        '  http.get(42)',
        '}',
      ].join('\n'),
    )
    const result = await runCommand(tscBin, ['-p', join(dir, 'tsconfig.json')])
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/wrong\.js\(4,12\): error TS2345/)
  })
})

describe('smoke of each scenario through the vegeta runner against the binary', () => {
  let service: ServiceProcess
  const targets: LoadTarget[] = []

  beforeAll(async () => {
    const binary = await binaryInEmptyDir('loadtest')
    service = await startService({
      command: binary,
      cwd: tempDir('loadtest-replica'),
      timeoutMs: 60_000,
      env: {
        DATABASE_URL: await createTestDatabase(inject('pgUrl')),
        REDIS_URL: inject('redisUrl'),
        PGA_REDIS_KEY_PREFIX: `lt${Math.random().toString(36).slice(2, 8)}:`,
        PGA_MASTER_KEY: testMasterKey,
        PGA_ADMIN_EMAIL: email,
        PGA_ADMIN_PASSWORD: password,
        PGA_COLLECTOR_ENABLED: 'false',
        PGA_LOG_LEVEL: 'warn',
      },
    })
  }, 180_000)

  afterAll(async () => {
    expect(vegetaChildren()).toEqual([])
    // After a failed test: whatever its run left (the passing ones cleaned up already).
    await Promise.allSettled(targets.map(cleanupTarget))
    await service?.stop()
  })

  async function instancesOfRun(target: LoadTarget) {
    const reply = await callApi(target.baseUrl, 'GET', '/api/v1/instances', { token: target.token })
    expect(reply.status).toBe(200)
    const items = (reply.json as { items: { id: string; tags: Record<string, string> }[] }).items
    return items.filter((i) => i.tags.loadtest === target.runId)
  }

  /** Every request answered as expected, and every number adds up with the raw results. */
  function expectAccountedFor(
    scenario: Scenario,
    results: RequestResult[],
    summary: ReturnType<typeof summarize>,
  ) {
    const planned = scenario.smoke.rate * scenario.smoke.durationSeconds
    expect(results.length).toBeGreaterThanOrEqual(Math.floor(planned / 2))
    expect(results.length).toBeLessThanOrEqual(planned)
    // The requests sent are exactly the first n targets, each answered once, in the mix's order.
    const seqs = results.map((r) => r.seq as number).sort((a, b) => a - b)
    expect(seqs).toEqual(results.map((_, i) => i))
    const cycle = mixCycle(scenario.requests.map((r) => r.weight))
    for (const result of results) {
      const spec = scenario.requests[cycle[(result.seq as number) % cycle.length] as number]
      expect(result.name).toBe(spec?.name)
      expect(result.method).toBe(spec?.method)
      expect(spec?.expect, `${result.name} → ${result.status} ${result.error ?? ''}`).toContain(result.status)
      expect(result.error).toBeUndefined()
      expect(isError(result, scenario)).toBe(false)
    }
    // The summary agrees with the raw results.
    expect(summary.requests).toBe(results.length)
    expect(summary.errors).toBe(0)
    expect(summary.errorRate).toBe(0)
    expect(Object.values(summary.statusCounts).reduce((a, b) => a + b, 0)).toBe(results.length)
    for (const [status, count] of Object.entries(summary.statusCounts))
      expect(results.filter((r) => String(r.status) === status)).toHaveLength(count)
    expect(Object.values(summary.byRequest).reduce((a, b) => a + b.requests, 0)).toBe(results.length)
    for (const [name, own] of Object.entries(summary.byRequest))
      expect(own.requests).toBe(results.filter((r) => r.name === name).length)
    const sorted = results.map((r) => r.latencyMs).sort((a, b) => a - b)
    expect(summary.latencyMs.max).toBe(sorted[sorted.length - 1])
    expect(summary.latencyMs.p50).toBe(sorted[Math.ceil(sorted.length * 0.5) - 1])
    expect(summary.latencyMs.p99).toBe(sorted[Math.ceil(sorted.length * 0.99) - 1])
    const starts = results.map((r) => r.startedAtMs)
    const spanSeconds = (Math.max(...starts) - Math.min(...starts)) / 1000
    expect(summary.ratePerSecond).toBeCloseTo(results.length / spanSeconds, 6)
  }

  for (const name of ['read-throughput', 'write-mix', 'failover']) {
    it(`${name}: every request gets an expected status and is accounted for`, async () => {
      const scenario = loadScenario(name)
      const target = await prepareTarget(service.url, { email, password }, scenario)
      targets.push(target)
      const seeds = target.setup.instanceId ?? []
      expect(seeds).toHaveLength(scenario.setup.instances?.count ?? 0)
      expect(target.token).toMatch(/^pgak_/)

      const outcome = await runScenario(scenario, target, { ...scenario.smoke, vegeta })
      expect(outcome.stoppedBy).toBe('duration')
      expect(outcome.runId).toBe(target.runId)
      expectAccountedFor(scenario, outcome.results, outcome.summary)
      expect(vegetaChildren()).toEqual([])

      // Writes: exactly one instance per 201, all tagged with the run id.
      const created = outcome.results.filter((r) => r.name === 'create-instance' && r.status === 201).length
      if (scenario.requests.some((r) => r.name === 'create-instance')) expect(created).toBeGreaterThan(0)
      const ofRun = await instancesOfRun(target)
      expect(ofRun.filter((i) => !seeds.includes(i.id))).toHaveLength(created)
      expect(ofRun.filter((i) => seeds.includes(i.id))).toHaveLength(seeds.length)

      // A window over part of the run counts just the requests that started inside it.
      const from = outcome.results[Math.floor(outcome.results.length / 4)]?.startedAtMs as number
      const window = { fromMs: from, toMs: from + 1000 }
      const part = summarize(outcome.results, scenario, window)
      const inside = outcome.results.filter(
        (r) => r.startedAtMs >= window.fromMs && r.startedAtMs < window.toMs,
      )
      expect(part.requests).toBe(inside.length)
      expect(part.ratePerSecond).toBeCloseTo(inside.length, 6)
      expect(part.durationSeconds).toBe(1)

      // Clean-up deletes what the run created and revokes the key.
      const cleaned = await cleanupTarget(target)
      expect(cleaned.instancesDeleted).toBe(ofRun.length)
      const after = await callApi(target.baseUrl, 'GET', '/api/v1/instances', { token: target.token })
      expect(after.status).toBe(401)
    })
  }

  it('goes through TLS with a CA file (set-up and vegeta), over HTTP/2 or HTTP/1.1 as asked', async () => {
    const proxy = await startTlsProxy(service.port)
    try {
      const scenario = loadScenario('read-throughput')
      const target = await prepareTarget(proxy.url, { email, password }, scenario, { caFile: proxy.ca })
      targets.push(target)
      for (const http2 of [true, false]) {
        proxy.versions.clear()
        const outcome = await runScenario(
          scenario,
          { ...target, http2 },
          { rate: 20, durationSeconds: 1, vegeta },
        )
        expect(outcome.results.length).toBeGreaterThan(0)
        expect(outcome.summary.errors, JSON.stringify(outcome.summary.statusCounts)).toBe(0)
        expect([...proxy.versions]).toEqual([http2 ? '2.0' : '1.1'])
      }
      // Without the CA, vegeta refuses the certificate: every request is an error.
      const { caFile: _, ...untrusted } = target
      const refused = await runScenario(scenario, untrusted, { rate: 20, durationSeconds: 1, vegeta })
      expect(refused.results.length).toBeGreaterThan(0)
      expect(refused.summary.errors).toBe(refused.results.length)
      expect(refused.summary.statusCounts).toEqual({ '0': refused.results.length })
      expect(refused.results[0]?.error).toMatch(/certificate/)
      await cleanupTarget(target)
    } finally {
      await proxy.stop()
    }
  })

  it('stops on abort before its duration, keeps the results so far, and leaves no vegeta behind', async () => {
    const scenario = loadScenario('write-mix')
    const target = await prepareTarget(service.url, { email, password }, scenario)
    targets.push(target)
    const abort = new AbortController()
    let seen = 0
    const started = Date.now()
    const outcome = await runScenario(scenario, target, {
      rate: 20,
      durationSeconds: 120,
      vegeta,
      signal: abort.signal,
      onResult: () => {
        seen++
        if (seen === 10) abort.abort()
      },
    })
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(outcome.stoppedBy).toBe('signal')
    expect(outcome.results.length).toBeGreaterThanOrEqual(10)
    expect(outcome.results.length).toBe(seen)
    expect(outcome.summary.requests).toBe(outcome.results.length)
    expect(outcome.summary.errors).toBe(0)
    expect(vegetaChildren()).toEqual([])
    await cleanupTarget(target)
  })

  it('counts unexpected statuses and missing responses as errors and fails the thresholds', () => {
    const scenario = loadScenario('failover')
    const at = (i: number) => 1_700_000_000_000 + i * 10
    const results: RequestResult[] = [
      { name: 'get-instance', method: 'GET', startedAtMs: at(0), latencyMs: 5, status: 200 },
      {
        name: 'get-instance',
        method: 'GET',
        startedAtMs: at(1),
        latencyMs: 5,
        status: 502,
        error: '502 Bad Gateway',
      },
      {
        name: 'create-instance',
        method: 'POST',
        startedAtMs: at(2),
        latencyMs: 5,
        status: 409,
        error: '409 Conflict',
      },
      { name: 'create-instance', method: 'POST', startedAtMs: at(3), latencyMs: 5, status: 201 },
      { name: 'me', method: 'GET', startedAtMs: at(4), latencyMs: 5, status: 200 },
      {
        name: 'get-instance',
        method: 'GET',
        startedAtMs: at(5),
        latencyMs: 10_000,
        status: 0,
        error: 'timeout',
      },
      {
        name: 'get-instance',
        method: 'GET',
        startedAtMs: at(6),
        latencyMs: 5,
        status: 200,
        error: 'unexpected EOF',
      },
    ]
    const summary = summarize(results, scenario)
    expect(summary.errors).toBe(5)
    expect(summary.statusCounts).toEqual({ '0': 1, '200': 3, '201': 1, '409': 1, '502': 1 })
    expect(summary.thresholdsPassed).toBe(false)
    expect(summary.thresholdFailures.join('; ')).toMatch(/error rate .* > 0\.00%/)
    expect(summary.thresholdFailures.join('; ')).toMatch(/p99 10000 ms > 1000 ms/)
    expect(summarize([], scenario).thresholdFailures).toContain('no requests')
    expect(summarize(results.slice(0, 1), scenario).thresholdsPassed).toBe(true)
  })

  it('CLI: runs a scenario, prints a table and JSON, exits 0 when the thresholds pass', async () => {
    const result = await runCommand(
      bunBin,
      [
        join(repoRoot, 'loadtest', 'run.ts'),
        'write-mix',
        '--url',
        service.url,
        '--email',
        email,
        '--password',
        password,
        '--smoke',
        '--duration',
        '2',
      ],
      { timeoutMs: 60_000 },
    )
    expect(result.code, result.output).toBe(0)
    expect(result.stdout).toMatch(/^request\s+requests\s+errors\s+p50 ms/m)
    expect(result.stdout).toMatch(/thresholds .*: passed/)
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('\n{') + 1)) as {
      scenario: string
      rate: number
      durationSeconds: number
      summary: { requests: number; errors: number; thresholdsPassed: boolean }
    }
    expect(report).toMatchObject({ scenario: 'write-mix', rate: 20, durationSeconds: 2 })
    expect(report.summary.requests).toBeGreaterThan(0)
    expect(report.summary.errors).toBe(0)
    expect(result.output).toMatch(/cleaned up: \d+ instances deleted/)
    const usage = await runCommand(bunBin, [
      join(repoRoot, 'loadtest', 'run.ts'),
      'no-such-scenario',
      '--url',
      service.url,
    ])
    expect(usage.code).toBe(2)
  })
})
