// Running PostgreSQL's own programs against a monitored instance: the connection string (no
// password in it: PGPASSWORD in the child's environment only; the host checked against the
// instance host policy and resolved here, so the program connects to the checked addresses
// through `hostaddr` rather than resolving the name again), the CA certificate written to a
// private temporary file, and a child process that is killed on abort and whose stderr is kept
// (without secrets) for the error message.
import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import type { ConnectionTarget } from '../instances/connection-test.ts'
import type { HostPolicy } from '../instances/host-policy.ts'
import { socketHost } from '../instances/instance-socket.ts'

/** libpq's quoting of a conninfo value. */
const quote = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`

export type LibpqConnection = {
  /** For -d / --dbname. */
  conninfo: string
  /** PGPASSWORD and friends, merged over a minimal environment. */
  env: NodeJS.ProcessEnv
  /** Removes the temporary CA file, if any. */
  dispose(): void
}

/** Rejects with HostNotAllowedError (or the resolver's error) before any program runs. */
export async function libpqConnection(
  target: ConnectionTarget,
  options: {
    database?: string
    replication?: boolean
    applicationName: string
    connectTimeoutMs: number
    hostPolicy: HostPolicy
  },
): Promise<LibpqConnection> {
  const addresses = await options.hostPolicy.resolve(target.host)
  let dir: string | undefined
  const parts: [string, string][] = [
    // libpq takes IPv6 addresses without the brackets the API stores them with. One host entry per
    // checked address: libpq tries them in order, as it would the name's addresses, and keeps the
    // name for TLS verification.
    ['host', addresses.map(() => socketHost(target.host)).join(',')],
    ['hostaddr', addresses.join(',')],
    ['port', String(target.port)],
    ['user', target.username],
    ['dbname', options.database ?? target.database],
    ['sslmode', target.sslmode],
    ['application_name', options.applicationName],
    ['connect_timeout', String(Math.max(2, Math.ceil(options.connectTimeoutMs / 1000)))],
  ]
  // A physical walsender connection: replication commands (CREATE_REPLICATION_SLOT ...) via psql.
  if (options.replication) parts.push(['replication', 'true'])
  if (target.sslRootCert) {
    dir = mkdtempSync(join(tmpdir(), 'pga-libpq-'))
    const file = join(dir, 'root.crt')
    writeFileSync(file, target.sslRootCert, { mode: 0o600 })
    parts.push(['sslrootcert', file])
  }
  return {
    conninfo: parts.map(([k, v]) => `${k}=${quote(v)}`).join(' '),
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C',
      ...(target.password !== undefined ? { PGPASSWORD: target.password } : {}),
      // Never read the service user's ~/.pgpass or service files.
      PGPASSFILE: '/dev/null',
      PGSERVICEFILE: '/dev/null',
    },
    dispose: () => {
      if (dir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

export type ToolProcess = {
  child: ChildProcessByStdio<Writable | null, Readable, Readable>
  /** Resolves with the exit code; rejects with the tool's stderr when it failed. */
  finished: Promise<void>
  stderr(): string
}

/** Spawns a PostgreSQL program with its stdout as a stream; killed when `signal` aborts. */
export function runTool(
  path: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
  options: { stdin?: boolean } = {},
): ToolProcess {
  const child = spawn(path, args, {
    env,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  }) as ChildProcessByStdio<Writable | null, Readable, Readable>
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString()
  })
  const abort = () => child.kill('SIGTERM')
  signal?.addEventListener('abort', abort, { once: true })
  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, killedBy) => {
      signal?.removeEventListener('abort', abort)
      if (code === 0) resolve()
      else {
        const name = path.split('/').pop()
        reject(
          new Error(
            `${name} ${killedBy ? `was stopped (${killedBy})` : `exited with ${code}`}: ${stderr.trim().slice(-2000)}`,
          ),
        )
      }
    })
  })
  finished.catch(() => {})
  return { child, finished, stderr: () => stderr }
}
