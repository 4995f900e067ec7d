// CLI of the load runner: prepares the target (sign-in, API key, set-up instances), runs one
// scenario with vegeta, prints the summary as a table and as JSON, and cleans up. Exit codes:
// 0 thresholds passed, 1 thresholds failed, 2 bad usage or a failed set-up / run.
//   node_modules/.bin/bun loadtest/run.ts <scenario> --url https://host:port [--ca ca.pem]
//     [--email e --password p | --token t] [--rate N] [--duration S] [--workers N] [--http2]
//     [--instance <id>]... [--smoke] [--keep] [--output summary.json]
// The password and token may also come from LOADTEST_PASSWORD / LOADTEST_TOKEN.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import {
  cleanupTarget,
  formatSummary,
  type LoadTarget,
  loadScenario,
  prepareTarget,
  runScenario,
  scenarioNames,
} from './runner.ts'

const usage = `usage: bun loadtest/run.ts <scenario> --url URL [--ca FILE] [--email E --password P | --token T]
       [--rate N] [--duration S] [--workers N] [--http2] [--instance ID]... [--smoke] [--keep] [--output FILE]
scenarios: ${scenarioNames().join(', ')}`

function fail(message: string): never {
  console.error(`${message}\n${usage}`)
  process.exit(2)
}

function count(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) fail(`--${flag} must be an integer ≥ ${min}`)
  return n
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      ca: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      token: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      workers: { type: 'string' },
      http2: { type: 'boolean', default: false },
      instance: { type: 'string', multiple: true },
      smoke: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      output: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(usage)
    return 0
  }
  const [name, ...extra] = positionals
  if (!name || extra.length) fail('give exactly one scenario')
  if (!values.url) fail('--url is required')
  const scenario = loadScenario(name)
  const token = values.token ?? process.env.LOADTEST_TOKEN
  const password = values.password ?? process.env.LOADTEST_PASSWORD
  const credentials = token
    ? { token }
    : values.email && password
      ? { email: values.email, password }
      : fail('give --token, or --email and --password')
  const rate = count(values.rate, 'rate', 0) ?? (values.smoke ? scenario.smoke.rate : undefined)
  const durationSeconds =
    count(values.duration, 'duration', 1) ?? (values.smoke ? scenario.smoke.durationSeconds : undefined)
  const workers = count(values.workers, 'workers', 1)

  const target: LoadTarget = await prepareTarget(values.url, credentials, scenario, {
    ...(values.ca ? { caFile: values.ca } : {}),
    http2: values.http2,
    ...(values.instance?.length ? { setup: { instanceId: values.instance } } : {}),
  })
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const effective = {
      rate: rate ?? scenario.rate,
      durationSeconds: durationSeconds ?? scenario.durationSeconds,
      workers: workers ?? scenario.workers,
    }
    console.error(
      `running ${scenario.name} against ${target.baseUrl}: ${effective.rate ? `${effective.rate} req/s` : `as fast as ${effective.workers} workers go`} for ${effective.durationSeconds} s (run ${target.runId})`,
    )
    const outcome = await runScenario(scenario, target, { ...effective, signal: abort.signal })
    console.log(formatSummary(outcome.summary, scenario))
    const report = {
      scenario: scenario.name,
      url: target.baseUrl,
      runId: outcome.runId,
      stoppedBy: outcome.stoppedBy,
      ...effective,
      http2: values.http2,
      thresholds: scenario.thresholds,
      summary: outcome.summary,
    }
    console.log(JSON.stringify(report, null, 2))
    if (values.output) writeFileSync(values.output, `${JSON.stringify(report, null, 2)}\n`)
    return outcome.summary.thresholdsPassed ? 0 : 1
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!values.keep) {
      const cleaned = await cleanupTarget(target).catch((error: unknown) => {
        console.error(`clean-up failed: ${error instanceof Error ? error.message : String(error)}`)
        return undefined
      })
      if (cleaned) console.error(`cleaned up: ${cleaned.instancesDeleted} instances deleted`)
    }
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error))
    process.exit(2)
  },
)
