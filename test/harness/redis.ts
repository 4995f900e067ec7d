// An ephemeral Redis server for the test run: no persistence, free port, stopped by PID.
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, spawn, stopChild, tempDir, waitForPort } from './processes.ts'

export type TestRedis = { url: string; port: number; stop(): Promise<void> }

/** Starts redis-server with extra config lines (e.g. TLS or cluster settings). */
export async function startRedis(
  extraConfig: string[] = [],
  options: { port?: number } = {},
): Promise<TestRedis> {
  const dir = tempDir('redis')
  const port = options.port ?? (await freePort())
  const conf = join(dir, 'redis.conf')
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'save ""',
      'appendonly no',
      `dir ${dir}`,
      'protected-mode yes',
      ...extraConfig,
    ].join('\n'),
  )
  const child = spawn('redis-server', [conf], { stdio: ['ignore', 'ignore', 'inherit'] })
  await waitForPort(port)
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await stopChild(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
