// An ephemeral PostgreSQL cluster for the test run: initdb into a temp dir, pg_ctl on a free
// port, trust auth on loopback only, TLS offered (not required) with a throwaway CA. As root,
// the server runs as the `postgres` OS user.
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { makeCertificates } from './certificates.ts'
import { freePort, run, tempDir } from './processes.ts'

export type TestPostgres = {
  url: string
  port: number
  version: number
  /** The cluster's data directory and its server binaries. */
  dataDir: string
  binDir: string
  /** PEM file of the CA that signed the server certificate (for sslmode verify-full). */
  caFile: string
  /** A fast restart with the same options (the log keeps going to the cluster's file). */
  restart(): Promise<void>
  stop(): Promise<void>
}

export function postgresBin(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .map(Number)
        .filter(Boolean)
        .sort((a, b) => b - a)
    : []
  if (versions.length === 0)
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql: run `npm test`, which installs them',
    )
  return join(root, String(versions[0]), 'bin')
}

/** Starts a throwaway cluster and returns a superuser URL to its `postgres` database.
 * `settings` are extra `-c name=value` server settings (they win over the defaults below). */
export async function startPostgres(settings: string[] = []): Promise<TestPostgres> {
  const bin = postgresBin()
  const dir = tempDir('pg')
  const dataDir = join(dir, 'data')
  const asRoot = userInfo().uid === 0
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args)
  const owner = asRoot
    ? {
        uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
        gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
      }
    : undefined
  if (owner) chownSync(dir, owner.uid, owner.gid)
  await as('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  // Members of pga_password_auth must present a SCRAM password over TCP (tests of monitored
  // logins); everyone else keeps trust. pg_hba is read top-down, so this line goes first.
  const hba = join(dataDir, 'pg_hba.conf')
  writeFileSync(hba, `host all +pga_password_auth 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`)
  // The server insists its key is private to the user it runs as.
  const certificates = await makeCertificates(tempDir('pg-tls'))
  for (const [from, to] of [
    [certificates.cert, 'server.crt'],
    [certificates.key, 'server.key'],
  ] as const) {
    copyFileSync(from, join(dataDir, to))
    chmodSync(join(dataDir, to), 0o600)
    if (owner) chownSync(join(dataDir, to), owner.uid, owner.gid)
  }
  const port = await freePort()
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
    '-c ssl=on',
    // The statements group needs the extension loaded; I/O times need track_io_timing.
    '-c shared_preload_libraries=pg_stat_statements',
    '-c track_io_timing=on',
    ...settings.map((setting) => `-c ${setting}`),
  ].join(' ')
  await as('pg_ctl', ['-D', dataDir, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start'])
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const probe = postgres(url, { max: 1, onnotice: () => {} })
  const [row] = await probe<{ server_version_num: string }[]>`show server_version_num`
  await probe`create role pga_password_auth nologin`
  await probe.end()
  return {
    url,
    port,
    caFile: certificates.ca,
    dataDir,
    binDir: bin,
    version: Math.floor(Number(row?.server_version_num) / 10000),
    async restart() {
      // pg_ctl forgets -l on restart: without it the server would log into our pipe and block.
      await as('pg_ctl', [
        '-D',
        dataDir,
        '-m',
        'fast',
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        'restart',
      ])
    },
    async stop() {
      await as('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Creates a fresh database on the test cluster and returns its URL. */
export async function createTestDatabase(serverUrl: string, prefix = 'pga_test'): Promise<string> {
  const name = `${prefix}_${Math.random().toString(36).slice(2, 10)}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}
