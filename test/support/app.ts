// Builds the real app in-process over real dependencies (a fresh database on the test cluster,
// the test Redis or in-process memory), with logs captured for inspection.
import { chmodSync } from 'node:fs'
import { inject } from 'vitest'
import { createApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { buildDeps, type OpenDeps } from '../../src/deps.ts'
import type { Clock } from '../../src/platform/clock.ts'
import { runMigrations } from '../../src/platform/db/migrations.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { buildInfo } from '../../src/system/build-info.ts'
import { createTestDatabase } from '../harness/postgres.ts'
import { tempDir } from '../harness/processes.ts'
import { captureLogs } from './logs.ts'
import { testMasterKey } from './master-key.ts'

export type TestApp = {
  app: ReturnType<typeof createApp>
  deps: OpenDeps
  logs: ReturnType<typeof captureLogs>
  close(): Promise<void>
}

/** A temporary directory other users may pass through (not list). */
function reachableDir(prefix: string) {
  const dir = tempDir(prefix)
  chmodSync(dir, 0o711)
  return dir
}

/** The app over a fresh database and (by default) the test Redis, migrated and ready; `clock`
 * replaces the system clock where the services take one (a test that moves time by hand). */
export async function startTestApp(
  env: Record<string, string> = {},
  options: { ready?: boolean; clock?: Clock } = {},
): Promise<TestApp> {
  const config = loadConfig({
    DATABASE_URL: await createTestDatabase(inject('pgUrl')),
    PGA_MASTER_KEY: testMasterKey,
    REDIS_URL: inject('redisUrl'),
    PGA_REDIS_KEY_PREFIX: `t${Math.random().toString(36).slice(2, 8)}:`,
    // Backups, drills and WAL spool default under it: never the repository's ./data.
    PGA_DATA_DIR: tempDir('app-data'),
    // As root the drill's server runs as `postgres`: its scratch space must be reachable.
    PGA_BACKUP_WORK_DIR: reachableDir('app-drills'),
    ...env,
  })
  const logs = captureLogs()
  const deps = await buildDeps(config, {
    log: logs.log,
    assets: nodeRuntime.assets,
    build: buildInfo,
    ...(options.clock ? { clock: options.clock } : {}),
  })
  await runMigrations(deps.db.sql, await nodeRuntime.assets.migrations(), logs.log)
  await deps.keys.start({ maintenance: false })
  // The default backup repository is registered; the background work is driven by the tests.
  await deps.backup.start({ run: false })
  if (options.ready !== false) deps.lifecycle.markReady()
  return { app: createApp(deps), deps, logs, close: () => deps.close() }
}
