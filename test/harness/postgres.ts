// An ephemeral PostgreSQL cluster for the test run: initdb into a temp dir, pg_ctl on a free
// port, trust auth on loopback only. As root, the server runs as the `postgres` OS user.
import { chownSync, existsSync, readdirSync, rmSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort, run, tempDir } from './processes.ts'

export type TestPostgres = { url: string; port: number; version: number; stop(): Promise<void> }

function postgresBin(): string {
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

/** Starts a throwaway cluster and returns a superuser URL to its `postgres` database. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin()
  const dir = tempDir('pg')
  const dataDir = join(dir, 'data')
  const asRoot = userInfo().uid === 0
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args)
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()))
  }
  await as('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  const port = await freePort()
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ')
  await as('pg_ctl', ['-D', dataDir, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start'])
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const probe = postgres(url, { max: 1, onnotice: () => {} })
  const [row] = await probe<{ server_version_num: string }[]>`show server_version_num`
  await probe.end()
  return {
    url,
    port,
    version: Math.floor(Number(row?.server_version_num) / 10000),
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
