// A throwaway Prometheus (Debian's prometheus package) configured from prometheus/prometheus.yml,
// the example operators copy: the same jobs, paths, honor_labels and bearer key file, pointed at a
// test listener and scraping every second, with the repository's alert rules loaded.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { freePort, run, tempDir } from '../harness/processes.ts'
import { repoRoot } from './service-process.ts'

type ScrapeConfig = {
  job_name: string
  scrape_interval?: string
  scrape_timeout?: string
  authorization?: { type: string; credentials_file?: string }
  static_configs: { targets: string[] }[]
}
export type PromSample = { metric: Record<string, string>; value: [number, string] }

export type PrometheusServer = {
  url: string
  waitForTargets(jobs: string[]): Promise<{ job: string; health: string; lastError: string }[]>
  waitForRuleEvaluation(): Promise<{ name: string; lastError: string }[]>
  query(expr: string): Promise<PromSample[]>
  metricNames(): Promise<string[]>
  stop(): Promise<void>
}

/** The example configuration, made to scrape `target` every second with `apiKey`. */
function testConfig(dir: string, target: string, apiKey: string): string {
  const config = parse(readFileSync(join(repoRoot, 'prometheus', 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>
    rule_files: string[]
    scrape_configs: ScrapeConfig[]
  }
  const keyFile = join(dir, 'pganalytics.key')
  writeFileSync(keyFile, apiKey, { mode: 0o600 })
  config.global = { scrape_interval: '1s', evaluation_interval: '1s' }
  config.rule_files = config.rule_files.map((f) => join(repoRoot, 'prometheus', f))
  for (const job of config.scrape_configs) {
    job.scrape_interval = '1s'
    job.scrape_timeout = '1s'
    job.static_configs = [{ targets: [target] }]
    if (job.authorization) job.authorization.credentials_file = keyFile
  }
  const path = join(dir, 'prometheus.yml')
  writeFileSync(path, stringify(config))
  return path
}

async function poll<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`Prometheus: ${what} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

export async function startPrometheus(options: {
  target: string
  apiKey: string
}): Promise<PrometheusServer> {
  const dir = tempDir('prometheus')
  const configFile = testConfig(dir, options.target, options.apiKey)
  await run('promtool', ['check', 'config', configFile])
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`)
    const body = (await res.json()) as { status: string; data: T; error?: string }
    if (body.status !== 'success') throw new Error(`${path}: ${body.error}`)
    return body.data
  }
  await poll(`ready (${stderr})`, async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined))
  return {
    url,
    waitForTargets: (jobs) =>
      poll('every target scraped', async () => {
        const data = await api<{
          activeTargets: { labels: { job: string }; health: string; lastError: string }[]
        }>('/api/v1/targets')
        const found = data.activeTargets.map((x) => ({
          job: x.labels.job,
          health: x.health,
          lastError: x.lastError,
        }))
        const ready = jobs.every((job) => found.some((x) => x.job === job && x.health !== 'unknown'))
        return ready ? found.filter((x) => jobs.includes(x.job)) : undefined
      }),
    waitForRuleEvaluation: () =>
      poll('rules evaluated', async () => {
        const data = await api<{
          groups: { name: string; lastEvaluation: string; rules: { name: string; lastError?: string }[] }[]
        }>('/api/v1/rules')
        if (data.groups.length === 0 || data.groups.some((g) => g.lastEvaluation.startsWith('0001')))
          return undefined
        return data.groups.flatMap((g) =>
          g.rules.map((r) => ({ name: `${g.name}/${r.name}`, lastError: r.lastError ?? '' })),
        )
      }),
    query: async (expr) => {
      const data = await api<{ resultType: string; result: PromSample[] | [number, string] }>(
        `/api/v1/query?query=${encodeURIComponent(expr)}`,
      )
      return data.resultType === 'scalar'
        ? [{ metric: {}, value: data.result as [number, string] }]
        : (data.result as PromSample[])
    },
    metricNames: () => api<string[]>('/api/v1/label/__name__/values'),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}
