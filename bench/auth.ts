// Authentication benchmark. It PRINTS figures (tables and a one-line JSON summary, the line starting
// with `JSON `); it never passes or fails on them. What it does:
//   1. starts a throwaway PostgreSQL 15 cluster (test/harness/postgres.ts, store database pga_store)
//      and a throwaway Redis (test/harness/redis.ts), both on 127.0.0.1 and pinned with this script
//      to the client CPU (1);
//   2. starts the real service process, `bun src/main.ts serve` from this tree (argon2id on
//      Bun.password, as in the binary), pinned to the server
//      CPU (0), with DATABASE_URL, REDIS_URL, a random PGA_MASTER_KEY, the collector off,
//      PGA_LOG_LEVEL=warn (no access log line per request, as bench/http.ts), PGA_ADMIN_EMAIL and
//      PGA_ADMIN_PASSWORD (the first administrator is created at start) and every auth setting at
//      its default (argon2id m=19456 KiB, t=2, p=1; access tokens 15 min; user cache 5 s);
//   3. logins over HTTP (POST /api/v1/auth/login, fetch from this process): --logins sequential
//      ones after 3 warm-up ones, then --clients concurrent clients looping for --login-seconds.
//      Latency p50/p95/p99, logins/s, the server's CPU per login;
//   4. throughput with wrk -t1 -c--connections (bench/wrk-report.lua; wrk rather than autocannon:
//      it is what bench/http.ts uses and, in C, it leaves the client CPU to Redis and PostgreSQL),
//      --warmup s of warm-up then --seconds s per target, pinned to CPU 1: GET /api/v1/version
//      without a token and with a valid `Authorization: Bearer` (the middleware authenticates every
//      request that carries a bearer token, public routes included, so the difference is the auth
//      check alone), --rounds times interleaved (4: on two shared CPUs one pair of runs moves by 10 points); then GET /api/v1/auth/me (any signed-in user, one
//      SELECT of the user) and GET /api/v1/instances (instances:read, one SELECT, no instances)
//      with the token. All connections share one token (one session, one user). req/s, p50/p99,
//      server CPU per request, and the ratio against the same route without a token. A logout of
//      another session then checks that a revoked token gets 401;
//   4. enterprise sign-in (bench/auth-sso.ts): a throwaway slapd and a samlify IdP on CPU 1, an LDAP
//      and a SAML provider created through the API; --sso-logins sequential LDAP sign-ins and SAML
//      ACS posts, then twice as many LDAP sign-ins and as many ACS posts from --clients clients.
//      Latency p50/p95/p99, sign-ins/s, the server's CPU per sign-in (--only sso: this part alone);
//   5. stops the service, moves this process to CPU 0 (PostgreSQL and Redis stay on CPU 1) and
//      measures in-process, over the same database and Redis, with the service's own pieces
//      (buildDeps as test/support/app.ts): one argon2id hash and one verify (hash-wasm on the
//      worker_threads pool Node uses, default parameters; a 1 ms timer's longest gap shows whether
//      the event loop is held meanwhile), and
//      Sessions.authenticate piece by piece: the whole check with the user cached and with the user
//      re-read, jwtVerify alone (EdDSA, same options) and its Ed25519 signature check alone
//      (crypto.subtle.verify), the Redis read it makes when its tracked copy misses (session record and jti blacklist, one MGET), the
//      same two keys from the tracked copy (getManyCached, armed first), one GET,
//      the user lookup from the per-replica cache (hit) and from PostgreSQL (miss). Each sequentially
//      (median of 5 batches, µs per call: the latency) and --connections at a time (wall µs per call
//      and this process's CPU µs per call); and GET /api/v1/version through the real app (createApp
//      over those deps, app.fetch, no sockets) with and without the token, to separate the check
//      from what HTTP adds around it.
//   5. sign-in storm (--only storm: this part alone, about a minute per build plus the quiet
//      waits): the compiled binary (--binary, default dist/pganalytics; build it first) on every
//      CPU, a store database of its own; the argon2id reference (one hash by Bun.password and by
//      hash-wasm on this thread, median of 10, wall and CPU time) gives the goal CPUs / the hash's
//      CPU time; the server's CPU per sign-in says what CPUs of its own would give; a probe sends
//      GET /api/v1/version one at a time every 10 ms for --storm-seconds alone, then while
//      --storm-clients clients sign in without pause, then alone again: sign-ins/s against the
//      goal, 503 password_hashing_busy answers, the probe's p99 in the storm against its p99
//      alone (goal: at most 2x). --compare-binary PATH runs the same against another build
//      (for example one from before hashing left the event loop).
// Before each measured run it waits (at most 120 s over the whole run) for the machine to be under
// 25 % of one CPU; the CPU0/CPU1 busy column shows what else ran meanwhile. Only 127.0.0.1; every
// process it starts is stopped by PID (the cluster by pg_ctl on its data directory), also on
// error, Ctrl-C or the watchdog (10 min).
// Run from the repository root:
//   node_modules/.bin/bun bench/auth.ts [--seconds 10] [--warmup 2] [--connections 32] [--rounds 4]
//     [--logins 40] [--clients 8] [--login-seconds 10] [--sso-logins 60] [--only all|sso|storm]
//     [--storm-seconds 10] [--storm-clients 4*CPUs] [--binary dist/pganalytics] [--compare-binary PATH]
// About 5 to 6 minutes with the defaults (the storm needs dist/pganalytics).
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'
import { decodeJwt, jwtVerify } from 'jose'
import postgres from 'postgres'
import { createApp } from '../src/app.ts'
import { hashPassword, verifyPassword } from '../src/auth/passwords.ts'
import { Sessions } from '../src/auth/sessions.ts'
import { publishedKeys, tokenAlgorithm, verificationKey } from '../src/auth/token-keys.ts'
import { loadConfig } from '../src/config.ts'
import { buildDeps, type OpenDeps } from '../src/deps.ts'
import { createLogger } from '../src/platform/log.ts'
import { nodeRuntime } from '../src/runtime/node.ts'
import { buildInfo } from '../src/system/build-info.ts'
import { startPostgres, type TestPostgres } from '../test/harness/postgres.ts'
import { freePort } from '../test/harness/processes.ts'
import { startRedis, type TestRedis } from '../test/harness/redis.ts'
import { type SsoRow, samlPieces, ssoSignInBench } from './auth-sso.ts'
import {
  benchProcesses,
  busyPercent,
  cpuSeconds,
  cpuTicks,
  databaseUrl,
  fmt,
  fmtInt,
  logTail,
  median,
  note,
  quantile,
  quietWaiter,
  round,
  runBench,
  sleep,
  table,
  waitForReady,
} from './support.ts'

const root = resolve(import.meta.dir, '..')
const bun = join(root, 'node_modules', '.bin', 'bun')
const serverCpu = '0'
const clientCpu = '1'
const watchdogMs = 10 * 60_000
const target = { authCostMaxPercent: 30 }

// ---------------------------------------------------------------------------------------------
// Options.

type Options = {
  seconds: number
  warmup: number
  connections: number
  rounds: number
  logins: number
  clients: number
  loginSeconds: number
  ssoLogins: number
  stormSeconds: number
  stormClients: number
  binary: string
  compareBinary: string | undefined
  only: 'all' | 'sso' | 'storm'
}

function parseOptions(argv: string[]): Options {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (!match) throw new Error(`unexpected argument ${arg}`)
    const value = match[2] ?? argv[++i]
    if (value === undefined) throw new Error(`${arg} needs a value`)
    values.set(match[1] as string, value)
  }
  const known = [
    'seconds',
    'warmup',
    'connections',
    'rounds',
    'logins',
    'clients',
    'login-seconds',
    'sso-logins',
    'storm-seconds',
    'storm-clients',
    'binary',
    'compare-binary',
    'only',
  ]
  for (const name of values.keys()) if (!known.includes(name)) throw new Error(`unknown option --${name}`)
  const int = (name: string, fallback: number, min: number, max: number) => {
    const text = values.get(name)
    const n = text === undefined ? fallback : Number(text)
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer between ${min} and ${max}`)
    return n
  }
  return {
    seconds: int('seconds', 10, 1, 60),
    warmup: int('warmup', 2, 0, 30),
    connections: int('connections', 32, 1, 512),
    rounds: int('rounds', 4, 1, 9),
    logins: int('logins', 40, 5, 1000),
    clients: int('clients', 8, 1, 64),
    loginSeconds: int('login-seconds', 10, 1, 60),
    ssoLogins: int('sso-logins', 60, 5, 1000),
    stormSeconds: int('storm-seconds', 10, 2, 120),
    stormClients: int('storm-clients', 4 * cpus().length, 1, 256),
    binary: resolve(values.get('binary') ?? join(root, 'dist', 'pganalytics')),
    compareBinary: values.has('compare-binary') ? resolve(values.get('compare-binary') as string) : undefined,
    only: (['sso', 'storm'] as const).find((o) => o === values.get('only')) ?? 'all',
  }
}

// ---------------------------------------------------------------------------------------------
// The machine.

/** Waits (within a budget shared by the whole run) until the machine is under 25 % of one CPU. */
const quietness = quietWaiter({ budgetMs: 120_000, thresholdPercent: 25, pauseMs: 500 })
const waitForQuiet = quietness.wait

function machineInfo() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown'
  const wrk = /wrk \S+/.exec(Bun.spawnSync(['wrk', '--version']).stdout.toString())?.[0] ?? 'wrk'
  return {
    nproc: cpus().length,
    cpu: model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    bun: Bun.version,
    wrk,
  }
}

/** The tree's revision; read-only git (no optional locks: nothing in .git is written). */
function revision(): string {
  const git = (args: string[]) =>
    Bun.spawnSync(['git', '--no-optional-locks', ...args], { cwd: root })
      .stdout.toString()
      .trim()
  const rev = git(['rev-parse', '--short', 'HEAD'])
  const dirty = git(['status', '--porcelain', '--', 'src', 'migrations'])
  return `${rev || 'unknown'}${dirty ? ' (src/ or migrations/ modified)' : ''}`
}

// ---------------------------------------------------------------------------------------------
// Processes: everything started here is stopped by PID (the cluster by pg_ctl) in `cleanup`.

const processes = benchProcesses('bench-auth')
const work = processes.work
const stopProcess = processes.stop
const cleanup = processes.cleanup

const baseEnv = (extra: Record<string, string>) => ({
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME: work,
  LANG: 'C.UTF-8',
  ...extra,
})

type Server = { child: Subprocess; pid: number; base: string; readyMs: number }

/** `bun src/main.ts serve` pinned to the server CPU (or `command`); ready at the first 200 from
 * /readyz. */
async function startService(
  env: Record<string, string>,
  command = ['taskset', '-c', serverCpu, bun, 'src/main.ts', 'serve'],
): Promise<Server> {
  const port = await freePort()
  const log = join(work, 'service.log')
  const base = `http://127.0.0.1:${port}`
  const started = performance.now()
  const child = Bun.spawn(command, {
    cwd: root,
    env: baseEnv({ ...env, PGA_HOST: '127.0.0.1', PGA_PORT: String(port) }),
    stdin: 'ignore',
    stdout: Bun.file(log),
    stderr: Bun.file(`${log}.err`),
  })
  processes.track(child)
  const readyMs = await waitForReady(`${base}/readyz`, {
    startedAt: started,
    child,
    describe: () => logTail(log),
  })
  return { child, pid: child.pid, base, readyMs }
}

// ---------------------------------------------------------------------------------------------
// Logins over HTTP.

type LoginBody = { access_token: string; refresh_token: string; session_id: string }
const credentials = {
  email: 'bench-admin@example.com',
  password: `Bench ${randomBytes(12).toString('hex')} passphrase`,
}

async function login(server: Server): Promise<LoginBody> {
  const response = await fetch(`${server.base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(credentials),
    signal: AbortSignal.timeout(30_000),
  })
  const text = await response.text()
  if (response.status !== 200) throw new Error(`login answered ${response.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as LoginBody
}

type LoginResult = {
  mode: string
  clients: number
  logins: number
  seconds: number
  perSecond: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  maxMs: number
  serverCpuMsPerLogin: number
}

async function loginLoad(
  server: Server,
  mode: string,
  clients: number,
  limit: { count?: number; seconds?: number },
): Promise<LoginResult> {
  const latencies: number[] = []
  const cpuBefore = cpuSeconds(server.pid)
  const started = performance.now()
  const deadline = started + (limit.seconds ?? 3600) * 1000
  let remaining = limit.count ?? Number.POSITIVE_INFINITY
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (remaining > 0 && performance.now() < deadline) {
        remaining--
        const t = performance.now()
        await login(server)
        latencies.push(performance.now() - t)
      }
    }),
  )
  const wall = (performance.now() - started) / 1000
  const cpu = cpuSeconds(server.pid) - cpuBefore
  latencies.sort((a, b) => a - b)
  return {
    mode,
    clients,
    logins: latencies.length,
    seconds: wall,
    perSecond: latencies.length / wall,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    serverCpuMsPerLogin: (cpu * 1000) / Math.max(1, latencies.length),
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP load (wrk, pinned to the client CPU).

type WrkSummary = {
  requests: number
  durationUs: number
  connectErrors: number
  readErrors: number
  writeErrors: number
  statusErrors: number
  timeouts: number
  p50Us: number
  p90Us: number
  p99Us: number
  maxUs: number
}

async function wrk(url: string, seconds: number, connections: number, token?: string): Promise<WrkSummary> {
  const cmd = ['taskset', '-c', clientCpu, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`]
  cmd.push('--timeout', '5s', '-s', join(root, 'bench', 'wrk-report.lua'))
  if (token) cmd.push('-H', `Authorization: Bearer ${token}`)
  cmd.push(url)
  const child = Bun.spawn(cmd, { env: baseEnv({}), stdout: 'pipe', stderr: 'pipe' })
  processes.track(child)
  const [out, err] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ])
  processes.untrack(child)
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '))
  if (!line) throw new Error(`wrk gave no summary for ${url}:\n${out}\n${err}`)
  return JSON.parse(line.slice('WRK_JSON '.length)) as WrkSummary
}

type LoadResult = {
  name: string
  path: string
  token: boolean
  round: number
  requests: number
  rps: number
  p50Ms: number
  p99Ms: number
  errors: number
  non2xx: number
  serverCpuPercent: number
  serverCpuUsPerRequest: number
  cpuBusyPercent: number[]
}

async function httpLoad(
  server: Server,
  options: Options,
  run: { name: string; path: string; token?: string; round: number },
): Promise<LoadResult> {
  note(`  ${run.name}${options.rounds > 1 ? ` (round ${run.round})` : ''}`)
  await waitForQuiet()
  const url = `${server.base}${run.path}`
  if (options.warmup > 0) await wrk(url, options.warmup, options.connections, run.token)
  const cpuBefore = cpuSeconds(server.pid)
  const ticksBefore = cpuTicks()
  const s = await wrk(url, options.seconds, options.connections, run.token)
  const busy = busyPercent(ticksBefore, cpuTicks())
  const cpu = cpuSeconds(server.pid) - cpuBefore
  const wall = s.durationUs / 1e6
  return {
    name: run.name,
    path: run.path,
    token: !!run.token,
    round: run.round,
    requests: s.requests,
    rps: s.requests / wall,
    p50Ms: s.p50Us / 1000,
    p99Ms: s.p99Us / 1000,
    errors: s.connectErrors + s.readErrors + s.writeErrors + s.timeouts,
    non2xx: s.statusErrors,
    serverCpuPercent: (100 * cpu) / wall,
    serverCpuUsPerRequest: (cpu * 1e6) / Math.max(1, s.requests),
    cpuBusyPercent: busy.map((n) => Math.round(n)),
  }
}

async function status(server: Server, path: string, token?: string, method = 'GET'): Promise<number> {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(10_000),
  })
  await response.arrayBuffer()
  return response.status
}

// ---------------------------------------------------------------------------------------------
// In-process pieces.

type PieceResult = { name: string; sequentialUs: number; concurrentWallUs: number; concurrentCpuUs: number }

/** Median over 5 batches of µs per call, one call at a time (after one warm-up batch). */
async function sequential(fn: () => Promise<unknown>, batch: number): Promise<number> {
  for (let i = 0; i < batch; i++) await fn()
  const perCall: number[] = []
  for (let r = 0; r < 5; r++) {
    const started = performance.now()
    for (let i = 0; i < batch; i++) await fn()
    perCall.push(((performance.now() - started) * 1000) / batch)
  }
  return median(perCall)
}

/** `inFlight` loops sharing `total` calls: wall µs and this process's CPU µs per call. */
async function concurrent(fn: () => Promise<unknown>, inFlight: number, total: number) {
  let left = total
  const worker = async () => {
    while (left-- > 0) await fn()
  }
  await Promise.all(Array.from({ length: inFlight }, worker)) // warm-up pass
  left = total
  const cpu = process.cpuUsage()
  const started = performance.now()
  await Promise.all(Array.from({ length: inFlight }, worker))
  const wallUs = (performance.now() - started) * 1000
  const used = process.cpuUsage(cpu)
  return { wallUs: wallUs / total, cpuUs: (used.user + used.system) / total }
}

async function piece(
  name: string,
  fn: () => Promise<unknown>,
  options: Options,
  batch = 2000,
): Promise<PieceResult> {
  note(`  ${name}`)
  const sequentialUs = await sequential(fn, batch)
  const c = await concurrent(fn, options.connections, batch * 5)
  return { name, sequentialUs, concurrentWallUs: c.wallUs, concurrentCpuUs: c.cpuUs }
}

async function inProcess(
  options: Options,
  env: Record<string, string>,
  token: string,
): Promise<{
  argon2: { hashMs: number[]; verifyMs: number[]; longestGapMs: number; params: string }
  pieces: PieceResult[]
  /** Whether the copy behind getManyCached was armed while the pieces ran. */
  trackedCopyArmed: boolean
}> {
  const problems: string[] = []
  const log = createLogger({
    level: 'error',
    write: (line) => {
      problems.push(line)
      if (problems.length <= 3) note(`    in-process log: ${line.slice(0, 300)}`)
    },
  })
  const deps: OpenDeps = await buildDeps(loadConfig(env), {
    log,
    assets: nodeRuntime.assets,
    build: buildInfo,
  })
  try {
    await deps.keys.start({ maintenance: false })
    const { argon2 } = deps.auth.accountSettings

    note('  argon2id hash and verify (hash-wasm on the worker pool, default parameters), 1 warm-up + 10 each')
    const hashMs: number[] = []
    const verifyMs: number[] = []
    const encoded = await hashPassword(credentials.password, argon2)
    // A 1 ms timer runs meanwhile: its longest gap is how long one hash holds the event loop.
    let lastTick = performance.now()
    let longestGapMs = 0
    const ticker = setInterval(() => {
      const now = performance.now()
      longestGapMs = Math.max(longestGapMs, now - lastTick)
      lastTick = now
    }, 1)
    try {
      for (let i = 0; i < 11; i++) {
        let t = performance.now()
        await hashPassword(credentials.password, argon2)
        if (i > 0) hashMs.push(performance.now() - t)
        await sleep(5)
        t = performance.now()
        const ok = await verifyPassword(credentials.password, encoded)
        if (i > 0) verifyMs.push(performance.now() - t)
        if (!ok) throw new Error('verifyPassword refused its own hash')
        await sleep(5)
      }
    } finally {
      clearInterval(ticker)
    }

    const sql = deps.db.sql
    const keyring = () => deps.keys.keyring()
    const settings = deps.auth.sessions.settings
    // The user always cached (a replica under steady load) and never (every request re-reads it).
    const cached = new Sessions(
      { db: sql, state: deps.state, keyring },
      { ...settings, userCacheMs: 3_600_000 },
    )
    const uncached = new Sessions({ db: sql, state: deps.state, keyring }, { ...settings, userCacheMs: 0 })
    const claims = decodeJwt(token)
    const sub = claims.sub as string
    const keys = new Map<string, CryptoKey>()
    for (const jwk of await publishedKeys(sql, settings.accessTokenTtlMs))
      keys.set(jwk.kid, await verificationKey(jwk))
    const keyFor = async (header: { kid?: string | undefined }) => {
      const key = header.kid ? keys.get(header.kid) : undefined
      if (!key) throw new Error('unknown kid')
      return key
    }
    const [jwtHeader, jwtPayload, jwtSignature] = token.split('.') as [string, string, string]
    const signingKey = keys.get(String(JSON.parse(Buffer.from(jwtHeader, 'base64url').toString()).kid))
    if (!signingKey) throw new Error('the token names an unknown key')
    const signedPart = new TextEncoder().encode(`${jwtHeader}.${jwtPayload}`)
    const signature = Buffer.from(jwtSignature, 'base64url')
    if (!(await crypto.subtle.verify('Ed25519', signingKey, signature, signedPart)))
      throw new Error('crypto.subtle.verify refused the token')
    // The keys src/auth/sessions.ts reads (the session id is their hash tag).
    const sessionKey = `auth:session:{${String(claims.sid)}}`
    const jtiKey = `auth:revoked-jti:{${String(claims.sid)}}:${String(claims.jti)}`
    if (!(await deps.state.get(sessionKey))) throw new Error('the session record is not in Redis')
    await cached.authenticate(token)
    // The tracked copy arms in the background after the first cached read: measure it armed.
    for (let i = 0; i < 100 && !deps.state.cacheStats?.()?.armed; i++) await Bun.sleep(50)
    await cached.authenticate(token)
    deps.lifecycle.markReady()
    const app = createApp(deps)
    const appGet = async (bearer: string | undefined) => {
      const response = await app.fetch(
        new Request('http://127.0.0.1/api/v1/version', {
          headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
        }),
      )
      await response.arrayBuffer()
      if (response.status !== 200) throw new Error(`app.fetch answered ${response.status}`)
    }

    const pieces = [
      await piece('Sessions.authenticate, user cached (hit)', () => cached.authenticate(token), options),
      await piece('Sessions.authenticate, user re-read (miss)', () => uncached.authenticate(token), options),
      await piece(
        'jwtVerify alone (EdDSA, same claims checks)',
        () =>
          jwtVerify(token, keyFor, {
            issuer: settings.issuer,
            audience: settings.audience,
            algorithms: [tokenAlgorithm],
            typ: 'at+jwt',
            requiredClaims: ['sub', 'jti', 'exp', 'iat', 'sid', 'tv'],
          }),
        options,
      ),
      await piece(
        'Ed25519 signature check alone (crypto.subtle.verify)',
        () => crypto.subtle.verify('Ed25519', signingKey, signature, signedPart),
        options,
      ),
      await piece(
        'the two Redis GETs (session record + jti blacklist, one MGET)',
        () => deps.state.getMany([sessionKey, jtiKey]),
        options,
      ),
      await piece(
        'the same two keys from the tracked copy (getManyCached)',
        () => deps.state.getManyCached([sessionKey, jtiKey]),
        options,
        20_000,
      ),
      await piece('one Redis GET', () => deps.state.get(sessionKey), options),
      await piece('user lookup, per-replica cache hit', () => cached.user(sub), options, 20_000),
      await piece(
        'user lookup, cache miss (SELECT from auth_users)',
        () => cached.user(sub, { fresh: true }),
        options,
      ),
      // The same check inside the app (middleware chain, no sockets): what HTTP adds is the rest.
      await piece('app.fetch GET /api/v1/version, no token', () => appGet(undefined), options),
      await piece('app.fetch GET /api/v1/version, bearer token', () => appGet(token), options),
    ]
    return {
      argon2: {
        hashMs,
        verifyMs,
        longestGapMs,
        params: `m=${argon2.memoryKib} KiB, t=${argon2.iterations}, p=${argon2.parallelism}`,
      },
      pieces,
      trackedCopyArmed: deps.state.cacheStats?.()?.armed === true,
    }
  } finally {
    await deps.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Enterprise sign-in (bench/auth-sso.ts), against the running service.

const ssoAdminToken = randomBytes(24).toString('hex')
const ssoPublicUrl = 'https://pga.bench.test'

async function ssoSection(
  server: Server,
  options: Options,
): Promise<{ rows: SsoRow[]; pieces: Awaited<ReturnType<typeof samlPieces>> }> {
  note(
    `enterprise sign-in: ${options.ssoLogins} sequential, then ${options.clients} clients (slapd and a SAML IdP on CPU 1)`,
  )
  await waitForQuiet()
  const rows = await ssoSignInBench(
    { base: server.base, cpuSeconds: () => cpuSeconds(server.pid) },
    {
      logins: options.ssoLogins,
      clients: options.clients,
      adminToken: ssoAdminToken,
      publicUrl: ssoPublicUrl,
    },
    (name, stop) => processes.onCleanup(name, stop),
  )
  await waitForQuiet()
  return { rows, pieces: await samlPieces() }
}

const ssoPiecesLine = (pieces: Awaited<ReturnType<typeof samlPieces>>) =>
  `SAML ACS pieces in this process (CPU 1, median of 30): XML Schema validation ${fmt(pieces.schemaMs)} ms, structure + XML-DSig + checks ${fmt(pieces.signatureAndChecksMs)} ms`

function ssoTable(rows: SsoRow[]): string {
  return table(
    ['flow', 'mode', 'clients', 'sign-ins', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'server CPU ms/sign-in'],
    rows.map((r) => [
      r.flow,
      r.mode,
      String(r.clients),
      String(r.count),
      fmt(r.perSecond, 1),
      fmt(r.p50Ms),
      fmt(r.p95Ms),
      fmt(r.p99Ms),
      fmt(r.serverCpuMsPerSignIn),
    ]),
    [2, 3, 4, 5, 6, 7, 8],
  )
}

const ssoSummary = (rows: SsoRow[]) =>
  rows.map((r) => ({
    ...r,
    perSecond: round(r.perSecond, 2),
    p50Ms: round(r.p50Ms),
    p95Ms: round(r.p95Ms),
    p99Ms: round(r.p99Ms),
    serverCpuMsPerSignIn: round(r.serverCpuMsPerSignIn),
  }))

// ---------------------------------------------------------------------------------------------
// Sign-in storm: the compiled binary on every CPU, --storm-clients clients signing in without
// pause while a probe measures GET /api/v1/version, against the same probe without the storm.

type Probe = { requests: number; p50Ms: number; p99Ms: number; maxMs: number; errors: number }

/** GET /api/v1/version one at a time, one slot every intervalMs (a slot missed is skipped). */
async function probeVersion(base: string, done: () => boolean, intervalMs = 10): Promise<Probe> {
  const latencies: number[] = []
  let errors = 0
  let next = performance.now()
  while (!done()) {
    const t = performance.now()
    try {
      const response = await fetch(`${base}/api/v1/version`, { signal: AbortSignal.timeout(10_000) })
      await response.arrayBuffer()
      if (response.status === 200) latencies.push(performance.now() - t)
      else errors++
    } catch {
      errors++
    }
    next = Math.max(next + intervalMs, performance.now())
    await sleep(next - performance.now())
  }
  latencies.sort((a, b) => a - b)
  return {
    requests: latencies.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    errors,
  }
}

type StormRun = {
  label: string
  revision: string
  alone: Probe
  storm: Probe
  after: Probe
  signIns: number
  busy: number
  failed: number
  perSecond: number
  loginP50Ms: number
  loginP99Ms: number
  serverCpuPercent: number
  serverCpuMsPerSignIn: number
  cpuBusyPercent: number[]
}

const allCpus = () => `0-${cpus().length - 1}`

async function stormRun(
  label: string,
  binary: string,
  env: Record<string, string>,
  options: Options,
): Promise<StormRun> {
  const version = Bun.spawnSync([binary, 'version', '--json'], { env: baseEnv({}) }).stdout.toString()
  const revision = (JSON.parse(version || '{}') as { revision?: string }).revision ?? 'unknown'
  note(`sign-in storm: ${label} (${binary}, ${revision}) on CPUs ${allCpus()}`)
  // Bun.spawn children inherit this script's CPU (1): give the service every CPU explicitly.
  const server = await startService(
    { ...env, PGA_ADMIN_EMAIL: credentials.email, PGA_ADMIN_PASSWORD: credentials.password },
    ['taskset', '-c', allCpus(), binary, 'serve'],
  )
  try {
    for (let i = 0; i < 3; i++) await login(server)
    const seconds = options.stormSeconds
    const probeFor = async () => {
      const until = performance.now() + seconds * 1000
      return probeVersion(server.base, () => performance.now() >= until)
    }
    note(`  GET /api/v1/version alone, ${seconds} s`)
    await waitForQuiet()
    const alone = await probeFor()

    note(`  ${options.stormClients} clients signing in for ${seconds} s, the same probe meanwhile`)
    await waitForQuiet()
    const latencies: number[] = []
    let busy = 0
    let failed = 0
    const cpuBefore = cpuSeconds(server.pid)
    const ticksBefore = cpuTicks()
    const started = performance.now()
    const until = started + seconds * 1000
    const [storm] = await Promise.all([
      probeVersion(server.base, () => performance.now() >= until),
      ...Array.from({ length: options.stormClients }, async () => {
        while (performance.now() < until) {
          const t = performance.now()
          const response = await fetch(`${server.base}/api/v1/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(credentials),
            signal: AbortSignal.timeout(30_000),
          }).catch(() => undefined)
          await response?.arrayBuffer()
          if (response?.status === 200) latencies.push(performance.now() - t)
          else if (response?.status === 503) busy++
          else failed++
        }
      }),
    ])
    const wall = (performance.now() - started) / 1000
    const cpu = cpuSeconds(server.pid) - cpuBefore
    const cpuBusyPercent = busyPercent(ticksBefore, cpuTicks()).map((n) => Math.round(n))
    latencies.sort((a, b) => a - b)

    note(`  GET /api/v1/version alone again, ${seconds} s`)
    await waitForQuiet()
    const after = await probeFor()
    return {
      label,
      revision,
      alone,
      storm: storm as Probe,
      after,
      signIns: latencies.length,
      busy,
      failed,
      perSecond: latencies.length / wall,
      loginP50Ms: quantile(latencies, 0.5),
      loginP99Ms: quantile(latencies, 0.99),
      serverCpuPercent: (100 * cpu) / wall,
      serverCpuMsPerSignIn: (1000 * cpu) / Math.max(1, latencies.length),
      cpuBusyPercent,
    }
  } finally {
    await stopProcess(server.child)
  }
}

/** One argon2id hash (default parameters) by Bun.password and by hash-wasm on this thread: the
 * reference for "CPUs / hash time". Median of 10 after one warm-up, on this script's CPU; wall
 * time and CPU time (this process, all threads: on a shared machine the CPU time is the steadier
 * one, and the goal is computed from it). */
async function hashReference(): Promise<{
  bunPasswordMs: number
  bunPasswordCpuMs: number
  hashWasmMs: number
  hashWasmCpuMs: number
}> {
  const { argon2id } = await import('hash-wasm')
  const params = { memoryKib: 19456, iterations: 2 }
  const time = async (hash: () => Promise<unknown>) => {
    const ms: number[] = []
    const cpuMs: number[] = []
    for (let i = 0; i < 11; i++) {
      const t = performance.now()
      const c = process.cpuUsage()
      await hash()
      const used = process.cpuUsage(c)
      if (i > 0) {
        ms.push(performance.now() - t)
        cpuMs.push((used.user + used.system) / 1000)
      }
    }
    return { wall: median(ms), cpu: median(cpuMs) }
  }
  await waitForQuiet()
  const bunPassword = await time(() =>
    Bun.password.hash(credentials.password, {
      algorithm: 'argon2id',
      memoryCost: params.memoryKib,
      timeCost: params.iterations,
    }),
  )
  const hashWasm = await time(() =>
    argon2id({
      password: credentials.password,
      salt: randomBytes(16),
      memorySize: params.memoryKib,
      iterations: params.iterations,
      parallelism: 1,
      hashLength: 32,
      outputType: 'encoded',
    }),
  )
  return {
    bunPasswordMs: bunPassword.wall,
    bunPasswordCpuMs: bunPassword.cpu,
    hashWasmMs: hashWasm.wall,
    hashWasmCpuMs: hashWasm.cpu,
  }
}

type StormResult = { hash: Awaited<ReturnType<typeof hashReference>>; runs: StormRun[] }

async function stormSection(
  options: Options,
  pg: TestPostgres,
  env: Record<string, string>,
): Promise<StormResult> {
  if (!existsSync(options.binary))
    throw new Error(`${options.binary} is missing: run bash scripts/build.sh first`)
  note('argon2id reference: one hash by Bun.password and by hash-wasm, on CPU 1')
  const hash = await hashReference()
  const runs: StormRun[] = []
  const targets = [
    { label: 'this build', binary: options.binary },
    ...(options.compareBinary ? [{ label: 'compared build', binary: options.compareBinary }] : []),
  ]
  for (const [i, target] of targets.entries()) {
    // A store of its own per binary (another build may carry other migrations).
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database pga_storm_${i}`)
    await admin.end()
    const storeUrl = databaseUrl(pg.url, `pga_storm_${i}`)
    runs.push(await stormRun(target.label, target.binary, { ...env, DATABASE_URL: storeUrl }, options))
  }
  return { hash, runs }
}

function stormLines(result: StormResult, options: Options): string[] {
  const cores = cpus().length
  const goal = (cores * 1000) / result.hash.bunPasswordCpuMs
  const out: string[] = []
  out.push(
    `Sign-in storm: the compiled binary on all ${cores} CPUs (taskset -c ${allCpus()}); this script, PostgreSQL and Redis on CPU 1 with it; ${options.stormClients} clients signing in without pause for ${options.stormSeconds} s; a probe sends GET /api/v1/version one at a time every 10 ms, alone before, during the storm, and alone after`,
  )
  out.push(
    `argon2id reference (default m=19456 KiB, t=2, p=1; median of 10 on CPU 1): Bun.password ${fmt(result.hash.bunPasswordMs)} ms wall, ${fmt(result.hash.bunPasswordCpuMs)} ms CPU; hash-wasm on the calling thread ${fmt(result.hash.hashWasmMs)} ms wall, ${fmt(result.hash.hashWasmCpuMs)} ms CPU; goal ${cores} CPUs / ${fmt(result.hash.bunPasswordCpuMs)} ms of CPU = ${fmt(goal)} sign-ins/s (a sign-in verifies one hash)`,
  )
  out.push(
    table(
      [
        'build',
        'revision',
        'sign-ins/s',
        '/ goal',
        'login p50 ms',
        'login p99 ms',
        '503',
        'failed',
        'version p99 ms alone / storm / after',
        'storm / alone',
        'server CPU %',
        'server CPU ms/sign-in',
        'CPU0/CPU1 busy %',
      ],
      result.runs.map((r) => [
        r.label,
        r.revision,
        fmt(r.perSecond),
        fmt(r.perSecond / goal, 2),
        fmt(r.loginP50Ms),
        fmt(r.loginP99Ms),
        String(r.busy),
        String(r.failed),
        `${fmt(r.alone.p99Ms, 2)} / ${fmt(r.storm.p99Ms, 2)} / ${fmt(r.after.p99Ms, 2)}`,
        fmt(r.storm.p99Ms / r.alone.p99Ms, 2),
        fmt(r.serverCpuPercent, 0),
        fmt(r.serverCpuMsPerSignIn),
        r.cpuBusyPercent.join('/'),
      ]),
      [2, 3, 4, 5, 6, 7, 9, 10, 11],
    ),
  )
  for (const r of result.runs)
    out.push(
      `${r.label}: version probe p50 ${fmt(r.alone.p50Ms, 2)} ms alone, ${fmt(r.storm.p50Ms, 2)} ms in the storm (max ${fmt(r.storm.maxMs, 1)} ms, ${r.storm.requests} probes, ${r.storm.errors + r.alone.errors + r.after.errors} errors); p99 in the storm ${fmt(r.storm.p99Ms / r.alone.p99Ms, 2)}x alone (goal at most 2x: ${r.storm.p99Ms <= 2 * r.alone.p99Ms ? 'met' : 'MISSED'}); sign-ins ${fmt((100 * r.perSecond) / goal, 0)} % of the goal; at ${fmt(r.serverCpuMsPerSignIn)} ms of server CPU per sign-in, ${cores} CPUs of its own would give up to ${fmt((cores * 1000) / r.serverCpuMsPerSignIn)} sign-ins/s if it hashed on all of them (a build hashing on the event loop uses one: ${fmt(1000 / r.serverCpuMsPerSignIn)})`,
    )
  return out
}

const stormSummary = (result: StormResult) => ({
  hash: Object.fromEntries(Object.entries(result.hash).map(([k, v]) => [k, round(v, 2)])),
  goalPerSecond: round((cpus().length * 1000) / result.hash.bunPasswordCpuMs),
  runs: result.runs.map((r) => ({
    ...r,
    perSecond: round(r.perSecond, 2),
    loginP50Ms: round(r.loginP50Ms),
    loginP99Ms: round(r.loginP99Ms),
    serverCpuPercent: round(r.serverCpuPercent, 0),
    serverCpuMsPerSignIn: round(r.serverCpuMsPerSignIn),
    alone: {
      ...r.alone,
      p50Ms: round(r.alone.p50Ms, 2),
      p99Ms: round(r.alone.p99Ms, 2),
      maxMs: round(r.alone.maxMs, 2),
    },
    storm: {
      ...r.storm,
      p50Ms: round(r.storm.p50Ms, 2),
      p99Ms: round(r.storm.p99Ms, 2),
      maxMs: round(r.storm.maxMs, 2),
    },
    after: {
      ...r.after,
      p50Ms: round(r.after.p50Ms, 2),
      p99Ms: round(r.after.p99Ms, 2),
      maxMs: round(r.after.maxMs, 2),
    },
    stormOverAlone: round(r.storm.p99Ms / r.alone.p99Ms, 2),
  })),
})

// ---------------------------------------------------------------------------------------------
// Main.

async function main() {
  const options = parseOptions(process.argv.slice(2))
  const startedAt = new Date()
  const machine = machineInfo()
  const rev = revision()
  const loadBefore = loadavg()
  if (machine.nproc < 2) throw new Error('this bench pins the server and the client to two CPUs (0 and 1)')
  // This script, wrk, PostgreSQL and Redis (started from here, so they inherit it) share CPU 1.
  Bun.spawnSync(['taskset', '-a', '-c', '-p', clientCpu, String(process.pid)], { stdout: 'ignore' })

  note('starting PostgreSQL and Redis...')
  const pg: TestPostgres = await startPostgres()
  processes.onCleanup('PostgreSQL', () => pg.stop())
  const redis: TestRedis = await startRedis()
  processes.onCleanup('Redis', () => redis.stop())
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} })
  await admin`create database pga_store`
  await admin.end()
  const env = {
    DATABASE_URL: databaseUrl(pg.url, 'pga_store'),
    REDIS_URL: redis.url,
    PGA_MASTER_KEY: randomBytes(32).toString('base64'),
    PGA_COLLECTOR_ENABLED: 'false',
    PGA_LOG_LEVEL: 'warn',
    PGA_AUDIT_CHECKPOINT_DIR: join(work, 'checkpoints'),
    // All logins come from one address: lift the per-address limit, which would answer 429.
    PGA_AUTH_RATE_PER_ADDRESS: '100000',
    // Enterprise sign-in (section 4): providers are created with the admin token.
    PGA_ADMIN_TOKEN: ssoAdminToken,
    PGA_PUBLIC_URL: ssoPublicUrl,
  }

  if (options.only === 'storm') {
    const storm = await stormSection(options, pg, env)
    process.stdout.write(
      [
        `pgAnalytics sign-in storm benchmark, ${startedAt.toISOString()}`,
        `command: node_modules/.bin/bun bench/auth.ts ${process.argv.slice(2).join(' ')}`,
        `revision: ${rev}; machine: ${machine.nproc} CPUs, ${machine.cpu}, ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}; bun ${machine.bun}; PostgreSQL ${pg.version}`,
        `load average before/after: ${loadBefore.map((n) => n.toFixed(2)).join(' ')} / ${loadavg()
          .map((n) => n.toFixed(2))
          .join(' ')}; waited ${fmt(quietness.waitedMs / 1000)} s for the machine to go quiet`,
        '',
        ...stormLines(storm, options),
        '',
        `JSON ${JSON.stringify({ date: startedAt.toISOString(), revision: rev, machine, storm: stormSummary(storm) })}`,
        '',
      ].join('\n'),
    )
    return
  }

  note('starting the service (bun src/main.ts serve, CPU 0)...')
  const server = await startService({
    ...env,
    PGA_ADMIN_EMAIL: credentials.email,
    PGA_ADMIN_PASSWORD: credentials.password,
  })
  note(`  ready in ${fmt(server.readyMs, 0)} ms`)
  if (options.only === 'sso') {
    const { rows, pieces } = await ssoSection(server, options)
    process.stdout.write(
      [
        `pgAnalytics enterprise sign-in benchmark, ${startedAt.toISOString()}`,
        `command: node_modules/.bin/bun bench/auth.ts ${process.argv.slice(2).join(' ')}`,
        `revision: ${rev}; machine: ${machine.nproc} CPUs, ${machine.cpu}, Linux ${machine.kernel}; bun ${machine.bun}; PostgreSQL ${pg.version}`,
        'service on CPU 0; this script, slapd, PostgreSQL and Redis on CPU 1',
        '',
        ssoTable(rows),
        ssoPiecesLine(pieces),
        '',
        `JSON ${JSON.stringify({ date: startedAt.toISOString(), revision: rev, machine, sso: ssoSummary(rows), samlPieces: pieces })}`,
        '',
      ].join('\n'),
    )
    return
  }

  // 1. Logins.
  note(
    `logins: 3 warm-up, ${options.logins} sequential, ${options.clients} clients for ${options.loginSeconds} s`,
  )
  for (let i = 0; i < 3; i++) await login(server)
  await waitForQuiet()
  const loginSequential = await loginLoad(server, 'sequential', 1, { count: options.logins })
  await waitForQuiet()
  const loginConcurrent = await loginLoad(server, 'concurrent', options.clients, {
    seconds: options.loginSeconds,
  })

  // 2. Authenticated versus unauthenticated requests.
  note(`HTTP load: wrk -t1 -c${options.connections}, ${options.warmup} s warm-up + ${options.seconds} s each`)
  const { access_token: token } = await login(server)
  if ((await status(server, '/api/v1/auth/me', token)) !== 200) throw new Error('the access token is refused')
  const loads: LoadResult[] = []
  for (let round = 1; round <= options.rounds; round++) {
    loads.push(
      await httpLoad(server, options, {
        name: 'GET /api/v1/version, no token',
        path: '/api/v1/version',
        round,
      }),
    )
    loads.push(
      await httpLoad(server, options, {
        name: 'GET /api/v1/version, bearer token',
        path: '/api/v1/version',
        token,
        round,
      }),
    )
  }
  loads.push(
    await httpLoad(server, options, {
      name: 'GET /api/v1/auth/me, bearer token',
      path: '/api/v1/auth/me',
      token,
      round: 1,
    }),
  )
  loads.push(
    await httpLoad(server, options, {
      name: 'GET /api/v1/instances, bearer token',
      path: '/api/v1/instances',
      token,
      round: 1,
    }),
  )
  // The token still works after the runs (a refused token would make the version runs meaningless).
  const stillValid = await status(server, '/api/v1/auth/me', token)
  if (stillValid !== 200) throw new Error(`the access token was refused after the runs (${stillValid})`)

  // Revocation over HTTP: another session signs out; its token is refused at once.
  const other = await login(server)
  const before = await status(server, '/api/v1/auth/me', other.access_token)
  const logout = await status(server, '/api/v1/auth/logout', other.access_token, 'POST')
  const after = await status(server, '/api/v1/auth/me', other.access_token)
  const revocation = { meBefore: before, logout, meAfter: after }

  // 4. Enterprise sign-in, while the service runs.
  const sso = await ssoSection(server, options)

  // A fresh token for the in-process part (the service is gone by then; Redis and PostgreSQL stay).
  const fresh = await login(server)
  await stopProcess(server.child)

  // 5. The sign-in storm against the compiled binary on every CPU.
  const storm = await stormSection(options, pg, env)

  // 3. In-process, on the CPU the service had.
  note('in-process: argon2id and Sessions.authenticate piece by piece (CPU 0)...')
  Bun.spawnSync(['taskset', '-a', '-c', '-p', serverCpu, String(process.pid)], { stdout: 'ignore' })
  await waitForQuiet()
  const inproc = await inProcess(options, env, fresh.access_token)
  const loadAfter = loadavg()

  // ---- Results.
  const mean = (rows: LoadResult[], f: (r: LoadResult) => number) =>
    rows.reduce((a, r) => a + f(r), 0) / Math.max(1, rows.length)
  const pub = loads.filter((r) => r.path === '/api/v1/version' && !r.token)
  const authd = loads.filter((r) => r.path === '/api/v1/version' && r.token)
  const me = loads.find((r) => r.path === '/api/v1/auth/me') as LoadResult
  const instances = loads.find((r) => r.path === '/api/v1/instances') as LoadResult
  const pubRps = mean(pub, (r) => r.rps)
  const authRps = mean(authd, (r) => r.rps)
  const pubCpu = mean(pub, (r) => r.serverCpuUsPerRequest)
  const authCpu = mean(authd, (r) => r.serverCpuUsPerRequest)
  const costPercent = (1 - authRps / pubRps) * 100
  const cpuCostPercent = (authCpu / pubCpu - 1) * 100
  const argon = inproc.argon2
  const pieceBy = (prefix: string) => inproc.pieces.find((p) => p.name.startsWith(prefix)) as PieceResult
  const full = pieceBy('Sessions.authenticate, user cached')
  const jwt = pieceBy('jwtVerify')
  const gets = pieceBy('the two Redis GETs')
  const hit = pieceBy('user lookup, per-replica cache hit')
  const appPublic = pieceBy('app.fetch GET /api/v1/version, no token')
  const appToken = pieceBy('app.fetch GET /api/v1/version, bearer token')

  const out: string[] = []
  out.push(`pgAnalytics authentication benchmark, ${startedAt.toISOString()}`)
  out.push(`command: node_modules/.bin/bun bench/auth.ts ${process.argv.slice(2).join(' ')}`.trimEnd())
  out.push(`revision: ${rev}; service: bun src/main.ts serve (a separate process, real HTTP on 127.0.0.1)`)
  out.push(
    `machine: ${machine.nproc} CPUs, ${machine.cpu}, ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}; bun ${machine.bun}, ${machine.wrk}; PostgreSQL ${pg.version}, Redis (redis-server)`,
  )
  out.push(
    `load average before/after: ${loadBefore.map((n) => n.toFixed(2)).join(' ')} / ${loadAfter.map((n) => n.toFixed(2)).join(' ')}; waited ${fmt(quietness.waitedMs / 1000)} s for the machine to go quiet`,
  )
  out.push(
    'service on CPU 0; this script, wrk, PostgreSQL and Redis on CPU 1; PGA_LOG_LEVEL=warn, collector off, store over TLS (PGA_DB_SSL=prefer), auth settings at their defaults',
  )
  out.push('')
  out.push(
    `1. Login: POST /api/v1/auth/login over HTTP (argon2id ${argon.params}; verify + session in PostgreSQL and Redis + EdDSA token + 1 audit event)`,
  )
  out.push(
    table(
      [
        'mode',
        'clients',
        'logins',
        'logins/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'max ms',
        'server CPU ms/login',
      ],
      [loginSequential, loginConcurrent].map((r) => [
        r.mode,
        String(r.clients),
        String(r.logins),
        fmt(r.perSecond, 1),
        fmt(r.p50Ms),
        fmt(r.p95Ms),
        fmt(r.p99Ms),
        fmt(r.maxMs),
        fmt(r.serverCpuMsPerLogin),
      ]),
      [1, 2, 3, 4, 5, 6, 7, 8],
    ),
  )
  out.push(
    `argon2id in-process (hash-wasm on the worker pool, ${argon.params}, CPU 0, 10 runs): hash median ${fmt(median(argon.hashMs))} ms (min ${fmt(Math.min(...argon.hashMs))}, max ${fmt(Math.max(...argon.hashMs))}); verify median ${fmt(median(argon.verifyMs))} ms; the event loop was held up to ${fmt(argon.longestGapMs)} ms at a time (a 1 ms timer's longest gap)`,
  )
  out.push('')
  out.push(
    `2. Authenticated vs unauthenticated: wrk -t1 -c${options.connections}, ${options.warmup} s warm-up + ${options.seconds} s per row; one access token on every connection`,
  )
  out.push(
    table(
      [
        'target',
        'round',
        'req/s',
        'p50 ms',
        'p99 ms',
        'errors',
        'server CPU %',
        'server CPU µs/req',
        'CPU0/CPU1 busy %',
      ],
      loads.map((r) => [
        r.name,
        String(r.round),
        fmtInt(r.rps),
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
        String(r.errors + r.non2xx),
        fmt(r.serverCpuPercent, 0),
        fmt(r.serverCpuUsPerRequest),
        r.cpuBusyPercent.join('/'),
      ]),
      [1, 2, 3, 4, 5, 6, 7],
    ),
  )
  out.push(
    `GET /api/v1/version with a token / without (mean of ${options.rounds} rounds): ${fmtInt(authRps)} / ${fmtInt(pubRps)} req/s = ${fmt(authRps / pubRps, 3)}: the auth check costs ${fmt(costPercent)} % of the throughput (target < ${target.authCostMaxPercent} %: ${costPercent < target.authCostMaxPercent ? 'met' : 'MISSED'}); server CPU per request ${fmt(authCpu)} vs ${fmt(pubCpu)} µs (+${fmt(authCpu - pubCpu)} µs, +${fmt(cpuCostPercent)} %)`,
  )
  out.push(
    `GET /api/v1/auth/me / unauthenticated version: ${fmt(me.rps / pubRps, 3)}; GET /api/v1/instances / unauthenticated version: ${fmt(instances.rps / pubRps, 3)}`,
  )
  out.push(
    `revocation over HTTP: another session's token on /api/v1/auth/me ${revocation.meBefore} before, logout ${revocation.logout}, ${revocation.meAfter} after`,
  )
  out.push('')
  out.push(
    `3. Sessions.authenticate piece by piece, in-process on CPU 0 (PostgreSQL and Redis on CPU 1, loopback TCP); sequential = median of 5 batches (latency); concurrent = ${options.connections} in flight`,
  )
  out.push(
    table(
      ['piece', 'sequential µs/call', `${options.connections} in flight: wall µs/call`, 'CPU µs/call'],
      inproc.pieces.map((p) => [
        p.name,
        fmt(p.sequentialUs),
        fmt(p.concurrentWallUs),
        fmt(p.concurrentCpuUs),
      ]),
      [1, 2, 3],
    ),
  )
  const sig = pieceBy('Ed25519 signature check alone')
  const copy = pieceBy('the same two keys from the tracked copy')
  out.push(
    `whole check (user cached) ${fmt(full.concurrentCpuUs)} µs CPU per call: the claims from this replica's cache of verified tokens (jwtVerify ${fmt(jwt.concurrentCpuUs)} µs, the Ed25519 check alone ${fmt(sig.concurrentCpuUs)}, on a token's first use only), the session and jti from the tracked copy ${fmt(copy.concurrentCpuUs)} µs (one MGET ${fmt(gets.concurrentCpuUs)} µs of client CPU when the copy misses or is not armed: tracking ${inproc.trackedCopyArmed ? 'armed' : 'NOT armed'}), the user from the cache ${fmt(hit.concurrentCpuUs)} µs, the rest ${fmt(full.concurrentCpuUs - copy.concurrentCpuUs - hit.concurrentCpuUs)}`,
  )

  out.push(
    `app.fetch (no sockets), ${options.connections} in flight: GET /api/v1/version ${fmt(appToken.concurrentCpuUs)} µs CPU with the token vs ${fmt(appPublic.concurrentCpuUs)} without (+${fmt(appToken.concurrentCpuUs - appPublic.concurrentCpuUs)} µs); over HTTP the service spent +${fmt(authCpu - pubCpu)} µs`,
  )

  out.push('')
  out.push(
    '4. Enterprise sign-in (bench/auth-sso.ts): LDAP over ldaps:// (service-account search, user bind, nested-group walk) and the SAML ACS (XML Schema, XML-DSig, request and replay checks), each ending in a session and an audit event',
  )
  out.push(ssoTable(sso.rows))
  out.push(ssoPiecesLine(sso.pieces))

  out.push('')
  out.push(`5. ${stormLines(storm, options).join('\n')}`)

  const summary = {
    date: startedAt.toISOString(),
    revision: rev,
    machine,
    settings: {
      ...options,
      loadGenerator: 'wrk -t1 (bench/wrk-report.lua)',
      service: 'bun src/main.ts serve',
    },
    argon2: {
      params: argon.params,
      hashMsMedian: round(median(argon.hashMs), 2),
      verifyMsMedian: round(median(argon.verifyMs), 2),
      eventLoopHeldMs: round(argon.longestGapMs),
    },
    login: Object.fromEntries(
      [loginSequential, loginConcurrent].map((r) => [
        r.mode,
        {
          clients: r.clients,
          logins: r.logins,
          perSecond: round(r.perSecond, 2),
          p50Ms: round(r.p50Ms),
          p95Ms: round(r.p95Ms),
          p99Ms: round(r.p99Ms),
          serverCpuMsPerLogin: round(r.serverCpuMsPerLogin),
        },
      ]),
    ),
    http: loads.map((r) => ({
      name: r.name,
      round: r.round,
      rps: Math.round(r.rps),
      p50Ms: round(r.p50Ms, 2),
      p99Ms: round(r.p99Ms, 2),
      errors: r.errors + r.non2xx,
      serverCpuUsPerRequest: round(r.serverCpuUsPerRequest),
    })),
    authCheck: {
      versionTokenOverPublic: round(authRps / pubRps, 3),
      throughputCostPercent: round(costPercent),
      serverCpuUsPerRequestAdded: round(authCpu - pubCpu),
      cpuCostPercent: round(cpuCostPercent),
      targetPercent: target.authCostMaxPercent,
      met: costPercent < target.authCostMaxPercent,
      meOverPublic: round(me.rps / pubRps, 3),
      instancesOverPublic: round(instances.rps / pubRps, 3),
    },
    revocation,
    storm: stormSummary(storm),
    sso: ssoSummary(sso.rows),
    samlPieces: sso.pieces,
    authenticateUs: Object.fromEntries(
      inproc.pieces.map((p) => [
        p.name,
        {
          sequential: round(p.sequentialUs),
          concurrentWall: round(p.concurrentWallUs),
          cpu: round(p.concurrentCpuUs),
        },
      ]),
    ),
  }
  out.push('')
  out.push(`JSON ${JSON.stringify(summary)}`)
  process.stdout.write(`${out.join('\n')}\n`)
}

await runBench('bench/auth.ts', main, cleanup, watchdogMs)
