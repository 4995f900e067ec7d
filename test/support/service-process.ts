// Runs pganalytics as a child process (compiled binary, Node bundle or source under Bun) on a
// free port and waits until /readyz says 200. Stops it by its PID.
import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, linkSync, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { LineLog } from '../harness/line-log.ts'
import { freePort, run, tempDir } from '../harness/processes.ts'

export const repoRoot = join(import.meta.dirname, '..', '..')
export const bunBin = join(repoRoot, 'node_modules', '.bin', 'bun')
export const binaryPath = join(repoRoot, 'dist', 'pganalytics')
export const nodeBundlePath = join(repoRoot, 'dist', 'node', 'main.js')
export const collectorBinaryPath = join(repoRoot, 'dist', 'pganalytics-collector')

export type ServiceProcess = {
  url: string
  port: number
  child: ChildProcess
  /** Everything written to stdout so far, one entry per line. */
  readonly lines: string[]
  /** Resolves with the exit code once the process ends. */
  exited: Promise<number | null>
  /** Resolves once a line matching the pattern has been logged. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

async function newestSource(dir: string): Promise<number> {
  let newest = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs)
  }
  return newest
}

/** Builds dist/ when it is missing or older than src/ or migrations/. */
export async function ensureBuilt(): Promise<void> {
  const sources = Math.max(
    await newestSource(join(repoRoot, 'src')),
    await newestSource(join(repoRoot, 'migrations')),
  )
  const built = [binaryPath, nodeBundlePath, collectorBinaryPath].map((p) =>
    existsSync(p) ? statSync(p).mtimeMs : 0,
  )
  if (Math.min(...built) > sources) return
  await run('bash', [join(repoRoot, 'scripts', 'build.sh')], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 })
}

/** Builds if needed, then puts the binary alone into a new empty directory (no source tree, no
 * node_modules), as CI and an operator would run it. Returns its path. A hard link where the
 * file system allows it: a 140 MB copy per e2e file filled the temp directory. */
export async function binaryInEmptyDir(prefix: string, source = binaryPath): Promise<string> {
  await ensureBuilt()
  const binary = join(tempDir(prefix), basename(source))
  try {
    linkSync(source, binary)
  } catch {
    copyFileSync(source, binary)
    chmodSync(binary, 0o755)
  }
  return binary
}

/** Starts `command args... serve` (or `command`: collect) with env (merged over a minimal base) and waits for readiness. */
export async function startService(options: {
  command: string
  args?: string[]
  env?: Record<string, string>
  cwd?: string
  waitReady?: boolean
  timeoutMs?: number
  /** A fixed port (a replica restarted behind a balancer); default: a free one. */
  port?: number
  /** The subcommand (default serve). */
  subcommand?: string
}): Promise<ServiceProcess> {
  const port = options.port ?? (await freePort())
  const child = spawn(options.command, [...(options.args ?? []), options.subcommand ?? 'serve'], {
    cwd: options.cwd ?? repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      PGA_PORT: String(port),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = new LineLog()
  log.follow(child.stdout)
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  const service: ServiceProcess = {
    url,
    port,
    child,
    get lines() {
      return log.lines
    },
    exited,
    waitForLine: async (pattern, timeoutMs = 15_000) => (await log.waitFor(pattern, { timeoutMs })).line,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
  if (options.waitReady === false) return service
  const deadline = Date.now() + (options.timeoutMs ?? 30_000)
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`service exited with ${child.exitCode}: ${stderr}${log.lines.join('\n')}`)
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return service
    await new Promise((r) => setTimeout(r, 25))
  }
  await service.stop('SIGKILL')
  throw new Error(
    `service not ready within ${options.timeoutMs ?? 30_000} ms: ${stderr}${log.lines.join('\n')}`,
  )
}
