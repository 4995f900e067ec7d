// What every bench script shares: run its main with a watchdog and Ctrl-C handling; processes it
// starts, tracked and stopped by PID in one cleanup; waiting for a server's first 200; /proc
// readings (CPU seconds, RSS, machine busy share) and waiting for a quiet machine; quantiles,
// number formats and tables for the printed figures. Bench scripts run on Bun.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { apiRoutesOf } from '../src/api-capabilities.ts'
import apiRoutes from '../src/api-routes.json' with { type: 'json' }
import { tempDir } from '../test/harness/processes.ts'

/** Runs `main`, then `cleanup` whatever happens, and exits the process with 0 (done), 1 (failed or
 * stopped by the watchdog) or 130 (Ctrl-C). */
export async function runBench(
  name: string,
  main: () => Promise<void>,
  cleanup: () => Promise<void>,
  watchdogMs: number,
): Promise<never> {
  let interrupted = false
  const watchdog = setTimeout(() => {
    interrupted = true
    console.error(`${name}: still running after ${Math.round(watchdogMs / 1000)} s, stopping everything`)
    void cleanup().finally(() => process.exit(1))
  }, watchdogMs)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true
      console.error(`${name}: ${signal}, stopping everything`)
      void cleanup().finally(() => process.exit(130))
    })
  }
  let exitCode = 0
  try {
    await main()
  } catch (error) {
    if (!interrupted) console.error(`${name} failed:`, error)
    exitCode = 1
  } finally {
    await cleanup()
    clearTimeout(watchdog)
  }
  process.exit(exitCode)
}

// ---------------------------------------------------------------------------------------------
// Small things.

/** The URL of another database on the server of `serverUrl`. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** The value after `--name` on the command line, if given. */
export function cliOption(name: string): string | undefined {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}

/** One request per capability of the API (src/api-routes.json), its last route with every
 * parameter set to `parameter` (the system capability's last route is the config check; its
 * first ones are probes). Answered or refused, each loads its capability in `serve`. */
/** 'K=V K=V' (a bench option's extra environment for a process it starts) as an object. */
export function envPairs(text: string, option: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(' ')
      .filter(Boolean)
      .map((pair) => {
        const at = pair.indexOf('=')
        if (at < 1) throw new Error(`${option} wants K=V pairs, got ${pair}`)
        return [pair.slice(0, at), pair.slice(at + 1)]
      }),
  )
}

export function oneRequestPerCapability(parameter: string): { method: string; path: string }[] {
  const last = new Map(apiRoutesOf(apiRoutes).map((route) => [route.capability, route]))
  return [...last.values()].map(({ method, path }) => ({
    method,
    path: path.replace(/:[A-Za-z]+/g, parameter),
  }))
}

/** A progress line on stderr (stdout carries the figures). */
export const note = (text: string) => process.stderr.write(`${text}\n`)
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/** `n` with `digits` decimals, 'n/a' when absent or not finite. */
export const fmt = (n: number | null | undefined, digits = 1) =>
  n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits)
/** `n` rounded, with thousands separators, 'n/a' when absent or not finite. */
export const fmtInt = (n: number | null | undefined) =>
  n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : Math.round(n).toLocaleString('en-US')
/** `n` rounded to `digits` decimals for JSON output, null when absent or not finite. */
export const round = (n: number | null | undefined, digits = 1) =>
  n === null || n === undefined || !Number.isFinite(n) ? null : Number(n.toFixed(digits))

/** The q-quantile (0..1) of ascending `sorted`, nearest rank; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))] as number
}

/** The median of `values` (any order): the middle one, or the mean of the two middle ones. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** A plain-text table: a header, a rule, rows; the columns in `rightAligned` padded on the left. */
export function table(header: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        rightAligned.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------------------
// /proc readings.

export const clockTicks = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()) || 100

/** CPU seconds (user + system, all threads) a live process used so far; with `reaped`, plus those
 * of its exited children it waited for. */
export function cpuSeconds(pid: number, options: { reaped?: boolean } = {}): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number)
  const own = (f[11] ?? 0) + (f[12] ?? 0)
  return (options.reaped ? own + (f[13] ?? 0) + (f[14] ?? 0) : own) / clockTicks
}

/** CPU seconds of a whole PostgreSQL cluster: its postmaster with the children it reaped (backends
 * that exited), and its live children. */
export function clusterCpuSeconds(dataDir: string): number {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  let total = cpuSeconds(postmaster, { reaped: true })
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster)
        total += cpuSeconds(Number(entry))
    } catch {
      // exited meanwhile: its time is in the postmaster's reaped-children figure
    }
  }
  return total
}

/** A memory figure of /proc/<pid>/status in MiB (VmRSS now, VmHWM peak, RssAnon and RssFile the
 * anonymous and file-backed parts of VmRSS); undefined once gone. */
export function procStatus(
  pid: number,
  field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile',
): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) / 1024 : undefined
  } catch {
    return undefined
  }
}

export type Ticks = { busy: number; total: number }

/** Busy and total ticks of one /proc/stat line. Busy excludes idle, iowait and softirq: loopback
 * TCP work done in softirq is charged to no process, so it would show up as "other" load. */
function ticksOf(line: string): Ticks {
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (steal ?? 0)
  return { busy, total: busy + (idle ?? 0) + (iowait ?? 0) + (softirq ?? 0) }
}

/** Busy and total ticks per CPU. */
export function cpuTicks(): Ticks[] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((line) => /^cpu\d+ /.test(line))
    .map(ticksOf)
}

/** Busy and total ticks of the whole machine. */
export function machineTicks(): Ticks {
  return ticksOf(readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
}

/** Busy time per CPU between two readings of cpuTicks(), in % of that CPU. */
export function busyPercent(before: Ticks[], after: Ticks[]): number[] {
  return after.map((a, i) => {
    const b = before[i] ?? { busy: 0, total: 0 }
    return a.total > b.total ? (100 * (a.busy - b.busy)) / (a.total - b.total) : 0
  })
}

/** Busy time of the machine between two readings of machineTicks(), in % of one CPU (200 % =
 * both CPUs of two). */
export function machineBusyPercent(a: Ticks, b: Ticks): number {
  return b.total > a.total ? (100 * cpus().length * (b.busy - a.busy)) / (b.total - a.total) : 0
}

/**
 * Another workload on the machine skews durations. Before each measurement, `wait()` samples the
 * machine for `sampleMs` until it is under `thresholdPercent` of one CPU, within a budget shared
 * by the whole run (`budgetMs`), so a busy machine slows the bench down by a bounded amount.
 */
export function quietWaiter(options: {
  budgetMs: number
  thresholdPercent?: number
  sampleMs?: number
  pauseMs?: number
}) {
  const threshold = options.thresholdPercent ?? 25
  let budgetMs = options.budgetMs
  let waitedMs = 0
  return {
    /** Total time waited so far in this run. */
    get waitedMs() {
      return waitedMs
    },
    async wait(): Promise<{ waitedMs: number; busyPercent: number }> {
      const started = performance.now()
      for (;;) {
        const before = machineTicks()
        await sleep(options.sampleMs ?? 300)
        const busy = machineBusyPercent(before, machineTicks())
        const waited = performance.now() - started
        if (busy < threshold || waited >= budgetMs) {
          budgetMs = Math.max(0, budgetMs - waited)
          waitedMs += waited
          return { waitedMs: Math.round(waited), busyPercent: Math.round(busy) }
        }
        await sleep(options.pauseMs ?? 0)
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Processes: everything a bench starts is tracked here and stopped by PID in cleanup().

export type BenchProcesses = ReturnType<typeof benchProcesses>

/** A work directory (removed at cleanup) and the processes started in it. */
export function benchProcesses(workPrefix: string) {
  const work = tempDir(workPrefix)
  const children = new Set<Subprocess>()
  const cleanups: { name: string; run: () => Promise<void> }[] = []
  let cleaningUp: Promise<void> | undefined

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process is gone. */
  async function stop(child: Subprocess, timeoutMs = 15_000): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await child.exited
      clearTimeout(timer)
    }
    children.delete(child)
  }

  return {
    work,
    /** Starts a tracked process; with `log`, stdout goes to it and stderr to `<log>.err`. */
    spawn(cmd: string[], options: { env: Record<string, string>; cwd: string; log?: string }): Subprocess {
      const child = Bun.spawn(cmd, {
        cwd: options.cwd,
        env: options.env,
        stdin: 'ignore',
        stdout: options.log ? Bun.file(options.log) : 'ignore',
        stderr: options.log ? Bun.file(`${options.log}.err`) : 'ignore',
      })
      children.add(child)
      return child
    },
    /** Tracks a process started elsewhere (stopped at cleanup unless it exited and was untracked). */
    track(child: Subprocess): Subprocess {
      children.add(child)
      return child
    },
    untrack(child: Subprocess) {
      children.delete(child)
    },
    stop,
    /** Runs `run` at cleanup, after the processes stopped, last registered first. */
    onCleanup(name: string, run: () => Promise<void>) {
      cleanups.push({ name, run })
    },
    /** Stops every tracked process, runs the cleanups and removes the work directory (once). */
    cleanup(): Promise<void> {
      cleaningUp ??= (async () => {
        await Promise.allSettled([...children].map((child) => stop(child, 5000)))
        for (const { name, run } of cleanups.reverse()) {
          await run().catch((error: unknown) => console.error(`cleanup of ${name} failed:`, error))
        }
        rmSync(work, { recursive: true, force: true })
      })()
      return cleaningUp
    },
  }
}

/** Installs the Debian package `pkg` (apt-get; sudo when not root) when `command` is not on
 * PATH, as npm test does for the tools the tests drive; throws when it is still missing. */
export function ensureDebianCommand(command: string, pkg: string): void {
  if (Bun.which(command)) return
  note(`installing ${pkg} (apt-get install -y ${pkg}) for ${command}`)
  const sudo = process.getuid?.() === 0 ? [] : ['sudo']
  const aptGet = (...args: string[]) =>
    Bun.spawnSync([...sudo, 'apt-get', ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdout: 'inherit',
      stderr: 'inherit',
    }).exitCode === 0
  if (!aptGet('install', '-y', '-qq', pkg)) {
    aptGet('update', '-qq')
    aptGet('install', '-y', '-qq', pkg)
  }
  if (!Bun.which(command)) throw new Error(`${command} is missing and apt-get could not install ${pkg}`)
}

/** The last lines of a process log written by spawn() (stdout and stderr). */
export function logTail(log: string, lines = 15): string {
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '')
  return `${read(log)}${read(`${log}.err`)}`.trim().split('\n').slice(-lines).join('\n')
}

/**
 * Polls `url` every `intervalMs` until it answers 200; returns the milliseconds since `startedAt`.
 * Fails at once when `child` exits, or after `timeoutMs`, with `describe()` (a log tail).
 */
export async function waitForReady(
  url: string,
  options: {
    startedAt: number
    timeoutMs?: number
    intervalMs?: number
    child?: Subprocess
    describe?: () => string
  },
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const deadline = options.startedAt + timeoutMs
  const detail = () => (options.describe ? `:\n${options.describe()}` : '')
  while (performance.now() < deadline) {
    const child = options.child
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(
        `${url}: the process exited (${child.exitCode ?? child.signalCode}) before ready${detail()}`,
      )
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      async (response) => {
        await response.arrayBuffer()
        return response.status === 200
      },
      () => false, // not listening yet
    )
    if (ok) return performance.now() - options.startedAt
    await sleep(options.intervalMs ?? 20)
  }
  throw new Error(`${url}: not ready within ${timeoutMs} ms${detail()}`)
}
