// The full-backup pipeline in process, without the service around it: a throwaway PostgreSQL 15
// loaded with `pgbench -i -s <scale>`, then takeBackup (src/backup/engine.ts: pg_basebackup's tar
// stream -> chunk ids -> zstd 3 -> AES-256-GCM -> a directory repository, the service defaults
// of 4 MiB chunks and 4 uploads in flight) --rounds times, and the same stream only read and
// dropped (`read only`: the cost of pg_basebackup and of reading its pipe). Prints wall and CPU
// seconds of this process and of the pg_basebackup it reaped, per round. Used to see where the
// CPU of a backup goes while changing src/backup (docs/PERFORMANCE.md, "Backup and restore").
//   node_modules/.bin/bun bench/backup-pipeline.ts [--scale 20] [--rounds 2] [--concurrency 4]
//     [--threads N (default: PGA_BACKUP_THREADS's)] [--by-thread (CPU per thread name; the chunk
//     threads have ended when it is read, so theirs is the process's minus the names listed)]
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { takeBackup } from '../src/backup/engine.ts'
import { libpqConnection, runTool } from '../src/backup/libpq.ts'
import { BackupRepository } from '../src/backup/repository.ts'
import { ByteReader } from '../src/backup/tar-reader.ts'
import { HostPolicy } from '../src/instances/host-policy.ts'
import { createLocalKek } from '../src/keys/kek.ts'
import { DirectoryBlobStore } from '../src/platform/blob/directory.ts'
import { randomBytes } from '../src/platform/crypto/aes-gcm.ts'
import { startPostgres } from '../test/harness/postgres.ts'
import { run, tempDir } from '../test/harness/processes.ts'
import { clockTicks, cpuSeconds } from './support.ts'

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '4' },
    threads: { type: 'string' },
    'by-thread': { type: 'boolean', default: false },
  },
})
const scale = Number(args.scale)
const rounds = Number(args.rounds)
const concurrency = Number(args.concurrency)

const server = await startPostgres(['wal_level=replica', 'full_page_writes=on'])
try {
  await run(join(server.binDir, 'pgbench'), ['-i', '-s', String(scale), '-q', server.url])
  const target = {
    host: '127.0.0.1',
    port: server.port,
    database: 'postgres',
    username: 'postgres',
    sslmode: 'disable' as const,
  }
  const kek = await createLocalKek(randomBytes(32))
  const hostPolicy = new HostPolicy({ allow: [], deny: [] })
  // CPU of the event loop's thread (its task id is the process id) apart from the others.
  const threadCpu = (task: string) => {
    try {
      const stat = readFileSync(`/proc/${process.pid}/task/${task}/stat`, 'utf8')
      const f = stat
        .slice(stat.lastIndexOf(')') + 2)
        .split(' ')
        .map(Number)
      return ((f[11] ?? 0) + (f[12] ?? 0)) / clockTicks
    } catch {
      return 0
    }
  }
  const mainThread = () => threadCpu(String(process.pid))
  /** CPU seconds per thread name (threads that ended meanwhile are not counted). */
  const byThreadName = () => {
    const sums = new Map<string, number>()
    for (const task of readdirSync(`/proc/${process.pid}/task`)) {
      let name = 'gone'
      try {
        name = readFileSync(`/proc/${process.pid}/task/${task}/comm`, 'utf8').trim()
      } catch {}
      sums.set(`${name}#${task}`, threadCpu(task))
    }
    return sums
  }
  const measure = async (name: string, work: () => Promise<number>) => {
    const main = mainThread()
    const threadsBefore = byThreadName()
    const cpu = cpuSeconds(process.pid, { reaped: true })
    const own = process.cpuUsage()
    const started = performance.now()
    const bytes = await work()
    const wall = (performance.now() - started) / 1000
    const used = process.cpuUsage(own)
    const ownCpu = (used.user + used.system) / 1e6
    const total = cpuSeconds(process.pid, { reaped: true }) - cpu
    console.log(
      `${name.padEnd(10)} ${(bytes / 1e6).toFixed(0)} MB  wall ${wall.toFixed(2)} s  ${(bytes / 1e6 / wall).toFixed(1)} MB/s  ` +
        `CPU ${total.toFixed(2)} s (this process ${ownCpu.toFixed(2)} of which event loop ${(mainThread() - main).toFixed(2)}, pg_basebackup ${(total - ownCpu).toFixed(2)})  ` +
        `${((total * 1000) / (bytes / 1e6)).toFixed(2)} ms CPU/MB`,
    )
    if (args['by-thread']) {
      const named = new Map<string, number>()
      for (const [key, after] of byThreadName()) {
        const name = key.split('#')[0] as string
        named.set(name, (named.get(name) ?? 0) + after - (threadsBefore.get(key) ?? 0))
      }
      console.log(
        `  threads: ${[...named]
          .filter(([, s]) => s > 0.005)
          .map(([n, s]) => `${n} ${s.toFixed(2)}`)
          .join(', ')}`,
      )
    }
  }
  for (let round = 0; round < rounds; round++) {
    await measure('read only', async () => {
      const connection = await libpqConnection(target, {
        applicationName: 'bench',
        connectTimeoutMs: 10_000,
        hostPolicy,
      })
      const tool = runTool(
        join(server.binDir, 'pg_basebackup'),
        ['-d', connection.conninfo, '-D', '-', '-F', 't', '-X', 'fetch', '-c', 'fast', '-w'],
        connection.env,
      )
      const reader = new ByteReader(tool.child.stdout)
      let bytes = 0
      for (;;) {
        const piece = await reader.read(4 << 20)
        if (piece.byteLength === 0) break
        bytes += piece.byteLength
      }
      await tool.finished
      connection.dispose()
      return bytes
    })
    const repoDir = tempDir('bench-repo')
    try {
      const repository = await BackupRepository.open(new DirectoryBlobStore(repoDir), [kek], { create: true })
      await measure('backup', async () => {
        const { manifest } = await takeBackup({
          repository,
          backupId: crypto.randomUUID(),
          type: 'full',
          parent: null,
          instance: { id: crypto.randomUUID(), name: 'bench' },
          target,
          binDir: server.binDir,
          compression: 'zstd',
          level: 3,
          chunkSize: 4 << 20,
          concurrency,
          threads: args.threads === undefined ? undefined : Number(args.threads),
          connectTimeoutMs: 10_000,
          hostPolicy,
        })
        return manifest.stats.sourceBytes
      })
    } finally {
      rmSync(repoDir, { recursive: true, force: true })
    }
  }
} finally {
  await server.stop()
}
