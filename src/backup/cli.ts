// Backup commands that run where the database is, with no service and no store: only the
// repository and the master key.
//   pganalytics restore --backup ID --to DIR [--repository URL] [--target-time T | --target-lsn L
//                       | --target-xid X | --target-name N] [--action promote|pause|shutdown]
//   pganalytics wal-push %p          as archive_command: stores a finished WAL file
//   pganalytics wal-fetch %f %p      as restore_command: fetches one (exit 1 when absent)
// The repository is --repository or PGA_BACKUP_REPOSITORY (with PGA_S3_* / PGA_AZURE_* for its
// credentials); the key PGA_MASTER_KEY (or its file). Exit codes: 0 done, 1 failed or absent.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { Config } from '../config.ts'
import type { KeyEncryptionKey } from '../keys/kek.ts'
import { loadMasterKeys } from '../keys/master-key.ts'
import { openBlobStore } from '../platform/blob/open.ts'
import type { Logger } from '../platform/log.ts'
import { compressionAvailable } from './compression.ts'
import type { RecoveryTarget } from './recovery.ts'
import { restoreToDirectory } from './recovery.ts'
import { withEnvironmentSettings } from './repositories.ts'
import { BackupRepository } from './repository.ts'
import { clusterOfDataDirectory, fetchWalFile, storeWalFile, timelineOf } from './wal-archive.ts'

export type BackupCliOptions = {
  repository?: string | undefined
  backup?: string | undefined
  to?: string | undefined
  targetTime?: string | undefined
  targetLsn?: string | undefined
  targetXid?: string | undefined
  targetName?: string | undefined
  action?: string | undefined
}

type Ctx = { config: Config; log: Logger; out: (text: string) => void }

/** The master keys, never a new one: a key generated here could not open any backup. */
async function masterKeys(ctx: Ctx): Promise<KeyEncryptionKey[]> {
  const { keys, store } = ctx.config
  const configured = keys.masterKey || keys.masterKeyFile
  const embeddedKey = store.kind === 'embedded' && existsSync(join(resolve(store.dataDir), 'master.key'))
  if (!configured && !embeddedKey)
    throw new Error(
      'set PGA_MASTER_KEY (or PGA_MASTER_KEY_FILE) to the master key the backups were made with',
    )
  const loaded = await loadMasterKeys(ctx.config, ctx.log)
  return loaded.previousKek ? [loaded.kek, loaded.previousKek] : [loaded.kek]
}

async function openRepository(ctx: Ctx, url: string | undefined): Promise<BackupRepository> {
  const environment = ctx.config.backup.repository
  const config = url ? withEnvironmentSettings(environment, url) : environment
  return BackupRepository.open(openBlobStore(config), await masterKeys(ctx), { create: false })
}

function targetOf(options: BackupCliOptions): RecoveryTarget {
  const given = [options.targetTime, options.targetLsn, options.targetXid, options.targetName].filter(Boolean)
  if (given.length > 1)
    throw new Error('give at most one of --target-time, --target-lsn, --target-xid, --target-name')
  if (options.targetTime) return { kind: 'time', time: options.targetTime }
  if (options.targetLsn) return { kind: 'lsn', lsn: options.targetLsn }
  if (options.targetXid) return { kind: 'xid', xid: options.targetXid }
  if (options.targetName) return { kind: 'name', name: options.targetName }
  return { kind: 'latest' }
}

export async function runRestoreCommand(options: BackupCliOptions, ctx: Ctx): Promise<number> {
  if (!options.backup || !options.to) throw new Error('restore needs --backup ID and --to DIR')
  const action = options.action ?? 'promote'
  if (!['promote', 'pause', 'shutdown'].includes(action))
    throw new Error('--action is promote, pause or shutdown')
  const repository = await openRepository(ctx, options.repository)
  const { manifest } = await repository.getManifest(options.backup)
  const started = performance.now()
  const done = await restoreToDirectory({
    repository,
    manifest,
    directory: resolve(options.to),
    target: targetOf(options),
    action: action as 'promote',
    binDir: ctx.config.backup.pgBinDir,
  })
  ctx.out(
    `${JSON.stringify({ backupId: manifest.backupId, directory: resolve(options.to), ...done, seconds: Math.round(performance.now() - started) / 1000, next: `pg_ctl -D ${resolve(options.to)} start` }, null, 2)}\n`,
  )
  return 0
}

/** archive_command: stores the file; storing the same content twice is fine, other content under
 * an existing name is refused (PostgreSQL's rule for archive commands). */
export async function runWalPush(path: string | undefined, dataDirectory: string, ctx: Ctx): Promise<number> {
  if (!path) throw new Error('wal-push needs the path of the WAL file (%p)')
  const name = basename(path)
  timelineOf(name)
  const repository = await openRepository(ctx, undefined)
  const content = new Uint8Array(readFileSync(path))
  const cluster = clusterOfDataDirectory(dataDirectory)
  const existing = await repository.getWal(cluster, timelineOf(name), name)
  if (existing && !name.endsWith('.partial')) {
    if (Buffer.from(existing).equals(Buffer.from(content))) return 0
    ctx.log.error('a different WAL file of this name is already archived', { file: name })
    return 1
  }
  const compression = compressionAvailable(ctx.config.backup.compression)
    ? ctx.config.backup.compression
    : 'gzip'
  await storeWalFile(repository, cluster, name, content, compression)
  return 0
}

/** restore_command: writes the file to `destination`, or exits 1 when the repository lacks it
 * (which is how recovery learns it reached the end of the WAL). */
export async function runWalFetch(
  name: string | undefined,
  destination: string | undefined,
  dataDirectory: string,
  ctx: Ctx,
): Promise<number> {
  if (!name || !destination) throw new Error('wal-fetch needs the file name (%f) and the destination (%p)')
  const repository = await openRepository(ctx, undefined)
  const content = await fetchWalFile(repository, clusterOfDataDirectory(dataDirectory), basename(name))
  if (!content) return 1
  writeFileSync(destination, content)
  return 0
}
