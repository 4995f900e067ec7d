// Debian's HAProxy and nginx, started on free ports in front of given replicas, from the
// repository's templates rendered by scripts/render-balancer.ts (the same step operators run).
// Each is validated (`haproxy -c`, `nginx -t`) before it starts; logs are kept for the tests;
// `reload()` is the graceful reload an operator would do; `stop()` stops only what we started.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type BalancerKind, type BalancerValues, writeBalancerConfig } from '../../scripts/render-balancer.ts'
import { makeCertificates } from './certificates.ts'
import { LineLog, type LogLine } from './line-log.ts'
import { freePort, run, stopChild, tempDir, waitForPort } from './processes.ts'

export type Balancer = {
  kind: BalancerKind
  httpsPort: number
  httpPort: number
  /** HAProxy only: its stats / Prometheus port. */
  statsPort: number
  /** PEM of the CA that signed the balancer's certificate (for 127.0.0.1 and localhost). */
  caFile: string
  /** Access log and error/event lines so far. */
  readonly lines: string[]
  /** The first line matching `pattern` logged at or after `after` (epoch ms; default 0). */
  waitForLine(pattern: RegExp, options?: { after?: number; timeoutMs?: number }): Promise<LogLine>
  /** Resolves once the balancer sends to the named replica again, which was (re)started ready
   * at `since` (epoch ms). HAProxy: its stats show the server plainly UP (not "UP 1/2", a failed
   * check pending) at least one check interval after `since`. A replica that restarted between
   * two checks, with no request meeting its closed port, is never marked DOWN, so there is no
   * "is UP" line to wait for. nginx has no active checks: it tries the replica again once its
   * fail_timeout has passed. */
  waitInRotation(replica: string, options: { since: number; timeoutMs: number }): Promise<void>
  reload(): Promise<void>
  stop(): Promise<void>
}

/** Starts a balancer in front of `replicas` (host:port), with values overriding the defaults. */
export async function startBalancer(
  kind: BalancerKind,
  replicas: string[],
  overrides: Partial<BalancerValues> = {},
): Promise<Balancer> {
  const dir = tempDir(`lb-${kind}`)
  const certificates = await makeCertificates(dir)
  const runDir = join(dir, 'run')
  mkdirSync(runDir)
  const [httpsPort, httpPort, statsPort] = [await freePort(), await freePort(), await freePort()]
  const values: BalancerValues = {
    replicas: replicas.map((address, i) => ({ name: `replica-${i + 1}`, address })),
    bindAddress: '127.0.0.1',
    httpsPort,
    httpPort,
    tlsCertificate: certificates.cert,
    tlsKey: certificates.key,
    runDir,
    statsAddress: `127.0.0.1:${statsPort}`,
    // The tests run as root without a www-data home; nginx workers write temp files in runDir.
    nginxUser: 'root',
    ...(kind === 'nginx' ? { accessLog: join(runDir, 'access.log') } : {}),
    ...overrides,
  }
  const config = writeBalancerConfig(kind, values, join(dir, 'conf'))
  const check = kind === 'haproxy' ? ['haproxy', ['-c', '-f', config]] : ['nginx', ['-t', '-q', '-c', config]]
  await run(check[0] as string, check[1] as string[])

  const child: ChildProcess =
    kind === 'haproxy'
      ? spawn('haproxy', ['-W', '-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('nginx', ['-c', config, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] })
  // nginx cannot log to a socket (how Node passes stdio), so its access log is a file, read from
  // where the last read stopped whenever lines are asked for.
  const accessLog = join(runDir, 'access.log')
  let accessLogRead = 0
  const log: LineLog = new LineLog(
    kind === 'nginx'
      ? () => {
          if (!existsSync(accessLog)) return
          const text = readFileSync(accessLog, 'utf8')
          const end = text.lastIndexOf('\n') + 1
          if (end <= accessLogRead) return
          const fresh = text.slice(accessLogRead, end - 1).split('\n')
          // Moved on before adding: adding wakes waiters, which read again.
          accessLogRead = end
          log.add(fresh)
        }
      : undefined,
  )
  log.follow(child.stdout)
  log.follow(child.stderr)
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}: ${log.lines.join('\n')}`))),
  )
  exited.catch(() => {})
  await Promise.race([waitForPort(httpsPort, 15_000), exited])
  const pidFile = join(runDir, kind === 'haproxy' ? 'haproxy.pid' : 'nginx.pid')

  return {
    kind,
    httpsPort,
    httpPort,
    statsPort,
    caFile: certificates.ca,
    get lines() {
      return log.lines
    },
    waitForLine: (pattern, options) => log.waitFor(pattern, { ...options, what: kind }),
    async waitInRotation(replica, { since, timeoutMs }) {
      if (kind === 'nginx') {
        await sleep(since + durationMs(values.failTimeout ?? '2s') + 500 - Date.now())
        return
      }
      const checkedSince = since + durationMs(values.healthCheckInterval ?? '500ms')
      const deadline = Date.now() + timeoutMs
      let status = 'unknown'
      for (;;) {
        status = await haproxyServerStatus(statsPort, 'replicas', replica)
        if (status === 'UP' && Date.now() >= checkedSince) return
        if (Date.now() > deadline)
          throw new Error(
            `haproxy: ${replica} not back in rotation within ${timeoutMs} ms (status ${status})`,
          )
        await sleep(200)
      }
    },
    async reload() {
      // HAProxy's master re-executes with the listeners handed over; nginx's master starts new
      // workers and lets the old ones finish their connections. Neither drops a request.
      const pid = kind === 'haproxy' ? child.pid : Number(readFileSync(pidFile, 'utf8').trim())
      process.kill(pid as number, kind === 'haproxy' ? 'SIGUSR2' : 'SIGHUP')
    },
    async stop() {
      await stopChild(child, kind === 'haproxy' ? 'SIGUSR1' : 'SIGQUIT', 10_000)
    },
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** A server's status on HAProxy's stats page (CSV): "UP", "DOWN", "UP 1/2" (a check failed,
 * not yet down), "DOWN 1/2" (a check passed, not yet up), "MAINT"... */
async function haproxyServerStatus(statsPort: number, backend: string, server: string): Promise<string> {
  const csv = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text()
  const [header = '', ...rows] = csv.trim().split('\n')
  const columns = header.replace(/^# /, '').split(',')
  const at = (name: string) => columns.indexOf(name)
  for (const row of rows) {
    const cells = row.split(',')
    if (cells[at('pxname')] === backend && cells[at('svname')] === server) return cells[at('status')] ?? ''
  }
  throw new Error(`haproxy stats: no server ${backend}/${server}`)
}

const durationMs = (text: string) => {
  const [, amount, unit] = /^(\d+)(ms|s|m)$/.exec(text) ?? []
  return Number(amount) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000)
}
