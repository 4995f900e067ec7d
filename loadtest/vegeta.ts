// Drives vegeta (https://github.com/tsenart/vegeta): `vegeta attack -lazy -format=json` reads
// targets generated on the fly from its stdin, its binary results go through `vegeta encode
// --to json` and come back here one JSON line per request. Both processes are ours: stopped by
// PID when the duration ends, on abort (SIGINT, then SIGKILL after a grace period), on a
// watchdog, and with SIGKILL if this process exits while they run.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

/** A line of `vegeta encode --to json` (the fields used here). */
export type VegetaResult = {
  seq: number
  code: number
  timestamp: string
  /** Nanoseconds. */
  latency: number
  error: string
  method: string
  url: string
}

/** One target in vegeta's JSON target format. */
export type VegetaTarget = { method: string; url: string; header: Record<string, string[]>; body?: string }

export type AttackOptions = {
  /** Requests per second; 0: as fast as `workers` workers go. */
  rate: number
  /** 0: until the signal aborts. */
  durationSeconds: number
  workers: number
  maxWorkers?: number
  timeoutSeconds: number
  caFile?: string
  http2?: boolean
  signal?: AbortSignal
  /** The vegeta executable (default: .tools/bin/vegeta when present, else `vegeta` on PATH). */
  vegeta?: string
  /** Called whenever vegeta wants more targets: returns the next ones, in order. */
  nextTargets: (count: number) => VegetaTarget[]
  onResult: (result: VegetaResult) => void
}

export type AttackOutcome = { targetsWritten: number; stoppedBy: 'duration' | 'signal' | 'watchdog' }

const repoTools = join(import.meta.dirname, '..', '.tools', 'bin', 'vegeta')

/** The vegeta executable: $VEGETA, .tools/bin/vegeta (scripts/ensure-tools.sh), else PATH. */
export function vegetaPath(): string {
  return process.env.VEGETA || (existsSync(repoTools) ? repoTools : 'vegeta')
}

/** The path of an executable (a bare name is looked up on PATH); throws when there is none. */
function executable(command: string): string {
  const candidates = command.includes('/')
    ? [command]
    : (process.env.PATH ?? '').split(':').map((dir) => join(dir || '.', command))
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not this one
    }
  }
  throw new Error(`no ${command} executable (install it with scripts/ensure-tools.sh, or set VEGETA)`)
}

/** Arguments of `vegeta attack` for the options. */
export function attackArgs(options: Omit<AttackOptions, 'nextTargets' | 'onResult' | 'signal' | 'vegeta'>) {
  const args = [
    'attack',
    '-lazy',
    '-format=json',
    `-duration=${options.durationSeconds}s`,
    `-timeout=${options.timeoutSeconds}s`,
    '-max-body=0',
    `-http2=${options.http2 === true}`,
  ]
  if (options.rate > 0) {
    args.push(`-rate=${options.rate}/1s`, `-workers=${options.workers}`)
    if (options.maxWorkers !== undefined) args.push(`-max-workers=${options.maxWorkers}`)
  } else {
    args.push('-rate=0', `-workers=${options.workers}`, `-max-workers=${options.workers}`)
  }
  if (options.caFile) args.push('-root-certs', options.caFile)
  return args
}

type Exit = { code: number | null; signal: NodeJS.Signals | null; error?: Error }

/** Resolves once the child has exited and its output is read, or could not start at all. */
const exitOf = (child: ChildProcessWithoutNullStreams) =>
  new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }))
    // A process that could not start (no such executable) may never emit 'close'.
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error })
    })
  })

const running = (child: ChildProcessWithoutNullStreams) =>
  child.pid !== undefined && child.exitCode === null && child.signalCode === null

/** Runs one attack to its end (duration, abort or watchdog); resolves once both vegeta
 * processes have exited and every result has been passed to onResult. */
export async function attack(options: AttackOptions): Promise<AttackOutcome> {
  if (options.durationSeconds === 0 && !options.signal)
    throw new Error('an attack without a duration needs an abort signal')
  if (options.signal?.aborted) return { targetsWritten: 0, stoppedBy: 'signal' }
  const bin = executable(options.vegeta ?? vegetaPath())
  const attacker = spawn(bin, attackArgs(options), { stdio: ['pipe', 'pipe', 'pipe'] })
  const encoder = spawn(bin, ['encode', '--to', 'json'], { stdio: ['pipe', 'pipe', 'pipe'] })
  const children = [attacker, encoder]
  const exits = children.map(exitOf) as [Promise<Exit>, Promise<Exit>]
  // A process that did not start leaves its pipes open: close them, so the reading ends.
  for (const exit of exits)
    void exit.then((e) => {
      if (e.error) for (const child of children) child.stdout.destroy()
    })
  const killAll = () => {
    for (const child of children) if (running(child)) child.kill('SIGKILL')
  }
  process.once('exit', killAll)

  let stderr = ''
  attacker.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  encoder.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })

  // Results: attack's gob output → encode → JSON lines.
  attacker.stdout.pipe(encoder.stdin)
  encoder.stdin.on('error', () => {})
  let failure: Error | undefined
  const failWith = (what: string, error: unknown) => {
    failure ??= new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`)
  }
  let resultLines = 0
  const lines = createInterface({ input: encoder.stdout, crlfDelay: Number.POSITIVE_INFINITY })
  lines.on('line', (line) => {
    if (!line.trim()) return
    resultLines++
    let result: VegetaResult
    try {
      result = JSON.parse(line) as VegetaResult
    } catch (error) {
      failWith('unreadable vegeta result', error)
      return
    }
    try {
      options.onResult(result)
    } catch (error) {
      failWith('onResult failed', error)
    }
  })
  const linesDone = new Promise<void>((resolve) => lines.once('close', () => resolve()))

  // Targets: keep vegeta's stdin full (it reads lazily, one target per request).
  let feeding = true
  let targetsWritten = 0
  attacker.stdin.on('error', () => {
    feeding = false
  })
  const feed = () => {
    try {
      while (feeding && running(attacker)) {
        const batch = options.nextTargets(64)
        targetsWritten += batch.length
        const chunk = batch.map((t) => `${JSON.stringify(t)}\n`).join('')
        if (!attacker.stdin.write(chunk)) {
          attacker.stdin.once('drain', feed)
          return
        }
      }
    } catch (error) {
      // Called from 'drain' too: never throw out of here; end the attack and report it.
      failWith('building targets failed', error)
      feeding = false
      killAll()
    }
  }

  let stoppedBy: AttackOutcome['stoppedBy'] = 'duration'
  let graceTimer: NodeJS.Timeout | undefined
  const interrupt = (why: AttackOutcome['stoppedBy']) => {
    if (!running(attacker)) return
    stoppedBy = why
    // vegeta stops sending on SIGINT and writes the results of requests in flight.
    attacker.kill('SIGINT')
    graceTimer = setTimeout(killAll, (options.timeoutSeconds + 5) * 1000)
  }
  const onAbort = () => interrupt('signal')
  options.signal?.addEventListener('abort', onAbort, { once: true })
  const watchdog =
    options.durationSeconds > 0
      ? setTimeout(
          () => interrupt('watchdog'),
          (options.durationSeconds + options.timeoutSeconds + 15) * 1000,
        )
      : undefined

  try {
    feed()
    const [attacked, encoded] = await Promise.all(exits)
    await linesDone
    feeding = false
    const notStarted = attacked.error ?? encoded.error
    if (notStarted) throw new Error(`cannot run ${bin}: ${notStarted.message}`)
    if (failure) throw failure
    // Killed by our signal (before vegeta installed its handler, or after the grace period): the
    // results so far stand, and a gob stream cut short may make encode fail too.
    const killedByUs = stoppedBy !== 'duration' && attacked.signal !== null
    // An attack stopped before its first request writes nothing, which encode refuses.
    const nothingToEncode = resultLines === 0 && attacked.code === 0 && /can't detect encoding/.test(stderr)
    if (!killedByUs && (attacked.code !== 0 || (encoded.code !== 0 && !nothingToEncode)))
      throw new Error(
        `vegeta failed (attack: ${attacked.code ?? attacked.signal}, encode: ${encoded.code ?? encoded.signal}): ${stderr.trim()}`,
      )
    return { targetsWritten, stoppedBy }
  } finally {
    feeding = false
    killAll()
    await Promise.all(exits)
    clearTimeout(watchdog)
    clearTimeout(graceTimer)
    options.signal?.removeEventListener('abort', onAbort)
    process.off('exit', killAll)
  }
}
