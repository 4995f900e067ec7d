// Embedded store: PGlite (PostgreSQL compiled to WASM) in a data directory, served to postgres.js
// over a private Unix socket by pglite-socket. One process, one replica: a lock file refuses a
// second pganalytics on the same directory instead of letting two engines corrupt it.
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import type { Logger } from '../log.ts'

/** WASM modules and file-system bundle, passed explicitly where PGlite cannot find its own
 * files (inside the compiled binary). Under Node or `bun run` PGlite loads them itself. */
export type EmbeddedAssets = {
  pgliteWasmModule: WebAssembly.Module
  initdbWasmModule: WebAssembly.Module
  fsBundle: Blob
}

export type EmbeddedPostgres = { socketPath: string; dataDir: string; stop(): Promise<void> }

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `data directory ${dir} is in use by another pganalytics process (pid ${pid}); the embedded store serves one process only`,
    )
    this.name = 'DataDirLockedError'
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes an exclusive lock file in dir; a lock left by a dead process is taken over. */
function lockDataDir(dir: string): () => void {
  const lockPath = join(dir, 'pganalytics.pid')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600)
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => rmSync(lockPath, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = Number(readFileSync(lockPath, 'utf8'))
      if (holder && holder !== process.pid && isRunning(holder)) throw new DataDirLockedError(dir, holder)
      rmSync(lockPath, { force: true })
    }
  }
  throw new Error(`could not lock data directory ${dir}`)
}

/** Opens (creating on first use) the PGlite database under dataDir and serves it on a socket. */
export async function startEmbeddedPostgres(options: {
  dataDir: string
  log: Logger
  assets?: (() => Promise<EmbeddedAssets>) | undefined
}): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const unlock = lockDataDir(dataDir)
  const pgdata = join(dataDir, 'pglite')
  const firstStart = !existsSync(join(pgdata, 'PG_VERSION'))
  const started = performance.now()
  try {
    const db = await PGlite.create({ dataDir: pgdata, ...(options.assets ? await options.assets() : {}) })
    // A short private directory keeps the socket path under the 108-byte limit.
    const socketDir = mkdtempSync(join(tmpdir(), 'pga-embedded-'))
    const socketPath = join(socketDir, '.s.PGSQL.5432')
    const server = new PGLiteSocketServer({ db, path: socketPath })
    await server.start()
    options.log.info('embedded store ready', {
      dataDir: pgdata,
      created: firstStart,
      startMs: Math.round(performance.now() - started),
    })
    return {
      socketPath,
      dataDir: pgdata,
      async stop() {
        await server.stop()
        await db.close()
        rmSync(socketDir, { recursive: true, force: true })
        unlock()
      },
    }
  } catch (error) {
    unlock()
    throw error
  }
}
