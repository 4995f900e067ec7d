// The API fuzz run shared by test/e2e/fuzz.test.ts (bounded, in `npm test`) and bench/fuzz.ts
// (longer): schemathesis (`st`, installed by scripts/ensure-tools.sh) against a running service,
// every operation of its OpenAPI document, all default checks and phases (examples, coverage,
// fuzzing, stateful links), a fixed seed. The fuzzer signs in as a new administrator per phase
// and again whenever a request answers 401/403 (test/fuzz/hooks.py). docs/API_ROBUSTNESS.md.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../harness/processes.ts'
import { toolPath } from '../harness/tools.ts'

/** Operations that end or weaken the caller's own credentials: sign-out, ending a session (its
 * own among them), the password of its own account, the signing key of its tokens, an MFA policy
 * its role must meet. They run in a phase of their own, after the others, so that the re-sign-in
 * they cause does not interleave with the rest of the run. */
export const ownCredentialOperations = [
  'POST /api/v1/auth/logout',
  'DELETE /api/v1/auth/sessions/{id}',
  'POST /api/v1/auth/change-password',
  'DELETE /api/v1/users/{id}/sessions',
  'POST /api/v1/users/{id}/reset-password',
  'PATCH /api/v1/users/{id}',
  'DELETE /api/v1/api-keys/{id}',
  'POST /api/v1/admin/token-keys/rotate',
  'PUT /api/v1/auth/mfa-policy',
  'POST /api/v1/auth/mfa/enroll',
  'POST /api/v1/auth/mfa/confirm',
  'POST /api/v1/auth/mfa/disable',
]

export type FuzzPhase = {
  name: string
  /** Operation labels ("METHOD /path") this phase runs (all when absent)... */
  include?: string[]
  /** ...less these. */
  exclude?: string[]
}

/** Where the own-credential operations find the ids they take (users, sessions, keys), so the
 * stateful links of their phase reach existing ones. */
const ownCredentialSources = [
  'GET /api/v1/auth/me',
  'GET /api/v1/auth/sessions',
  'GET /api/v1/users',
  'POST /api/v1/users',
  'GET /api/v1/api-keys',
  'POST /api/v1/api-keys',
]

export const fuzzPhases: FuzzPhase[] = [
  { name: 'api', exclude: ownCredentialOperations },
  { name: 'own-credentials', include: [...ownCredentialOperations, ...ownCredentialSources] },
]

export type FuzzRun = {
  phase: string
  exitCode: number | null
  /** Everything `st` printed (stdout and stderr, in order). */
  output: string
  /** Operations the phase selected. */
  operations: number
  /** From the JUnit report: test cases (one per operation and phase of st), failures, errors. */
  report: { tests: number; failures: number; errors: number }
}

/** Every "METHOD /path" of the document. */
export function operationLabels(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((m) => methods.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  )
}

/** Runs one phase of schemathesis against `url` (the document at url/openapi.json). */
export async function runFuzzPhase(options: {
  url: string
  adminToken: string
  phase: FuzzPhase
  seed: number
  maxExamples: number
  workers?: number
  extraArgs?: string[]
  /** st is stopped after this long (default 20 min). */
  timeoutMs?: number
}): Promise<FuzzRun> {
  const document = await (await fetch(`${options.url}/openapi.json`)).json()
  const { include, exclude = [] } = options.phase
  const selected = operationLabels(document).filter(
    (label) => (include ?? [label]).includes(label) && !exclude.includes(label),
  )
  const dir = tempDir(`fuzz-${options.phase.name}`)
  const junit = join(dir, 'junit.xml')
  const args = [
    'run',
    `${options.url}/openapi.json`,
    '--seed',
    String(options.seed),
    '--max-examples',
    String(options.maxExamples),
    '--workers',
    String(options.workers ?? 1),
    '--generation-database',
    'none',
    // The exact host rule (src/instances/schemas.ts) is a long expression: generating from it is
    // slow on a loaded machine, which is no finding about the API.
    '--suppress-health-check',
    'too_slow',
    '--request-timeout',
    '60',
    '--no-color',
    '--output-truncate',
    'false',
    '--report',
    'junit',
    '--report-junit-path',
    junit,
    ...(include ?? []).flatMap((label) => ['--include-name', label]),
    ...exclude.flatMap((label) => ['--exclude-name', label]),
    ...(options.extraArgs ?? []),
  ]
  const child = spawn(toolPath('st'), args, {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      SCHEMATHESIS_HOOKS: 'hooks',
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONPATH: join(import.meta.dirname, '..', 'fuzz'),
      PGA_FUZZ_URL: options.url,
      PGA_FUZZ_ADMIN_TOKEN: options.adminToken,
      PGA_FUZZ_PHASE: options.phase.name,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  // A run past its deadline is stopped (and reported with what it printed), never left behind.
  const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 20 * 60_000)
  const exitCode = await new Promise<number | null>((resolve) => {
    child.once('close', (code) => resolve(code))
    // st missing (scripts/ensure-tools.sh not run): a failed run that says so, not a hang.
    child.once('error', (error) => {
      output += `\ncould not run ${toolPath('st')}: ${error.message} (scripts/ensure-tools.sh installs it)\n`
      resolve(null)
    })
  })
  clearTimeout(timer)
  return {
    phase: options.phase.name,
    exitCode,
    output,
    operations: selected.length,
    report: junitTotals(junit),
  }
}

function junitTotals(file: string): FuzzRun['report'] {
  let xml = ''
  try {
    xml = readFileSync(file, 'utf8')
  } catch {
    return { tests: 0, failures: 0, errors: 0 }
  }
  const suite = xml.match(/<testsuite\b[^>]*>/)?.[0] ?? ''
  const attr = (name: string) => Number(suite.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1] ?? 0)
  return { tests: attr('tests'), failures: attr('failures'), errors: attr('errors') }
}

/** The service settings of a fuzz run, over its own database and Redis prefix: the sign-in rate
 * limits raised (the fuzzer signs in often and would otherwise mostly see 429), a short connect
 * deadline (it registers instances at whatever hosts it makes up), no collector or backup runner
 * (the run is about the API; they would only add load). */
export function fuzzServiceEnv(options: {
  databaseUrl: string
  redisUrl: string
  masterKey: string
  adminToken: string
}): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    PGA_REDIS_KEY_PREFIX: `fuzz-${Math.random().toString(36).slice(2, 8)}:`,
    PGA_MASTER_KEY: options.masterKey,
    PGA_ADMIN_TOKEN: options.adminToken,
    PGA_AUTH_RATE_PER_ADDRESS: '100000',
    PGA_AUTH_FAILURES_PER_HOUR: '10000',
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_COLLECTOR_CONNECT_TIMEOUT: '1s',
    PGA_BACKUP_ENABLED: 'false',
    PGA_LOG_LEVEL: 'warn',
  }
}
