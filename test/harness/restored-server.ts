// Starts PostgreSQL on a data directory a restore produced, exactly as an operator would: plain
// `pg_ctl start` on a free loopback port (as the `postgres` OS user when the tests run as root),
// then waits for recovery to finish. Stops it by its data directory.
import { chownSync, readdirSync, statSync } from 'node:fs'
import { userInfo } from 'node:os'
import { dirname, join } from 'node:path'
import postgres from 'postgres'
import { postgresBin } from './postgres.ts'
import { freePort, run } from './processes.ts'

export type RestoredServer = { url: string; port: number; stop(): Promise<void>; log(): Promise<string> }

const asRoot = userInfo().uid === 0

async function pgCtl(args: string[]) {
  const bin = join(postgresBin(), 'pg_ctl')
  return asRoot ? run('runuser', ['-u', 'postgres', '--', bin, ...args]) : run(bin, args)
}

/** Gives the tree to the postgres user (as root), as the server insists on owning it. */
function chownTree(path: string, uid: number, gid: number) {
  chownSync(path, uid, gid)
  if (!statSync(path).isDirectory()) return
  for (const entry of readdirSync(path)) chownTree(join(path, entry), uid, gid)
}

export async function startRestoredServer(dataDir: string): Promise<RestoredServer> {
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim())
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
    chownTree(dataDir, uid, gid)
    // The server must reach its directory: the (private) temporary directory around it too.
    chownSync(dirname(dataDir), uid, gid)
  }
  const port = await freePort()
  const logFile = join(dataDir, 'restore-test.log')
  await pgCtl([
    '-D',
    dataDir,
    '-o',
    `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dataDir}`,
    '-l',
    logFile,
    '-w',
    '-t',
    '120',
    'start',
  ])
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  // Recovery to a target ends with a promotion: wait until the server accepts writes.
  const deadline = Date.now() + 120_000
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    for (;;) {
      const [row] = await sql<{ recovering: boolean }[]>`select pg_is_in_recovery() as recovering`.catch(
        () => [{ recovering: true }],
      )
      if (!row?.recovering) break
      if (Date.now() > deadline) throw new Error('the restored server did not finish recovery within 120 s')
      await new Promise((r) => setTimeout(r, 200))
    }
  } finally {
    await sql.end()
  }
  return {
    url,
    port,
    async stop() {
      await pgCtl(['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => {})
    },
    log: async () => (await import('node:fs/promises')).readFile(logFile, 'utf8'),
  }
}
