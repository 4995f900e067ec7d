// The repositories backups go to: the default one from PGA_BACKUP_REPOSITORY (registered at start,
// managed by the environment; its earlier locations stay registered while backups are recorded
// there), and those an administrator adds through the API, whose credentials the keyring
// encrypts. Opens each one once per replica.
import { resolve } from 'node:path'
import type { KeyEncryptionKey } from '../keys/kek.ts'
import type { Keyring } from '../keys/keyring.ts'
import type { AzureSettings, BlobStoreConfig, S3Settings } from '../platform/blob/blob-store.ts'
import { parseBlobUrl } from '../platform/blob/blob-store.ts'
import { openBlobStore } from '../platform/blob/open.ts'
import { type Db, withTransaction } from '../platform/db/database.ts'
import type { Logger } from '../platform/log.ts'
import type { BackupConfig } from './config.ts'
import type { RepositoryRow } from './repo.ts'
import * as repo from './repo.ts'
import { BackupRepository } from './repository.ts'

/** Secrets of a repository added through the API: whichever its kind needs. */
export type RepositoryCredentials = {
  accessKeyId?: string
  secretAccessKey?: string
  accountKey?: string
  sasToken?: string
  connectionString?: string
}

export const credentialsField = (id: string) => ({
  table: 'backup_repositories',
  column: 'credentials_enc',
  rowKey: id,
})

/** The object store behind a repository row, credentials decrypted. */
export function blobConfigOf(row: RepositoryRow, credentials: RepositoryCredentials): BlobStoreConfig {
  const settings = row.settings as Record<string, string | boolean | undefined>
  const s3: S3Settings = {
    region: (settings.region as string | undefined) ?? 'us-east-1',
    forcePathStyle: settings.forcePathStyle === true,
    ...(settings.endpoint ? { endpoint: settings.endpoint as string } : {}),
    ...(credentials.accessKeyId ? { accessKeyId: credentials.accessKeyId } : {}),
    ...(credentials.secretAccessKey ? { secretAccessKey: credentials.secretAccessKey } : {}),
  }
  const azure: AzureSettings = {
    ...(settings.endpoint ? { endpoint: settings.endpoint as string } : {}),
    ...(credentials.accountKey ? { accountKey: credentials.accountKey } : {}),
    ...(credentials.sasToken ? { sasToken: credentials.sasToken } : {}),
    ...(credentials.connectionString ? { connectionString: credentials.connectionString } : {}),
  }
  return parseBlobUrl(row.url, s3, { azure })
}

/** A URL read with the settings (credentials, endpoint) of `environment` when of its kind: an
 * earlier PGA_BACKUP_REPOSITORY location, or the CLI's --repository. */
export function withEnvironmentSettings(environment: BlobStoreConfig, url: string): BlobStoreConfig {
  const s3 =
    environment.kind === 's3' || environment.kind === 'gcs'
      ? environment.s3
      : { region: 'us-east-1', forcePathStyle: false }
  return parseBlobUrl(url, s3, environment.kind === 'azure' ? { azure: environment.azure } : {})
}

/** What re-wrapping one repository's keys did (see BackupRepository.rewrapKeys). */
export type RepositoryRewrap = { repository: string; url: string } & (
  | { secret: boolean; backupKeys: number; unopened: string[] }
  | { error: string }
)

export class RepositoryRegistry {
  private readonly opened = new Map<string, Promise<BackupRepository>>()

  constructor(
    private readonly deps: {
      db: Db
      keyring: () => Keyring
      masterKeys: () => KeyEncryptionKey[]
      config: BackupConfig
      log: Logger
    },
  ) {}

  /**
   * Registers the environment's repository as `default`. When PGA_BACKUP_REPOSITORY names another
   * location than `default` had and backups are recorded there, that record keeps its location
   * under another name (and stops being the default), so its backups are still found; the new
   * location becomes `default`, taking back its earlier record if it had one.
   */
  async registerEnvironmentRepository(): Promise<RepositoryRow> {
    const url = describeUrl(this.deps.config.repository)
    // The usual restart (nothing changed) in one read, without the transaction and its lock.
    const unchanged = await repo.findRepository(this.deps.db, 'default')
    if (unchanged && (!unchanged.fromEnvironment || unchanged.url === url)) return unchanged
    const { row, kept } = await withTransaction(this.deps.db, async (tx) => {
      await repo.lockEnvironmentRepository(tx)
      const current = await repo.findRepository(tx, 'default')
      // A repository added through the API under that name is left alone, as before.
      if (current && (!current.fromEnvironment || current.url === url)) return { row: current, kept: null }
      const earlier = await repo.earlierEnvironmentRepository(tx, url)
      if (current && !earlier && !(await repo.hasBackups(tx, current.id)))
        return { row: await repo.setRepositoryUrl(tx, current.id, url), kept: null }
      const isDefault = current ? current.isDefault : !(await repo.defaultRepository(tx))
      const kept = current
        ? await repo.renameRepository(tx, current.id, `default-${current.id.slice(0, 8)}`, false)
        : null
      const row = earlier
        ? await repo.renameRepository(tx, earlier.id, 'default', isDefault)
        : await repo.insertEnvironmentRepository(tx, { id: crypto.randomUUID(), url, isDefault })
      return { row, kept }
    })
    if (kept)
      this.deps.log.warn(
        `PGA_BACKUP_REPOSITORY changed: the backups recorded at ${kept.url} stay there, in repository ${kept.name}; new backups go to ${url}`,
        { previous: { id: kept.id, name: kept.name, url: kept.url }, url },
      )
    return row
  }

  /** The repository a request names (id or name), or the default one. */
  async resolve(idOrName?: string): Promise<RepositoryRow | null> {
    return idOrName ? repo.findRepository(this.deps.db, idOrName) : repo.defaultRepository(this.deps.db)
  }

  /** Opens a repository (creating its repository.json on first use). */
  open(row: RepositoryRow): Promise<BackupRepository> {
    let found = this.opened.get(row.id)
    if (!found) {
      found = (async () =>
        BackupRepository.open(openBlobStore(await this.storeConfigOf(row)), this.deps.masterKeys(), {
          create: true,
        }))()
      found.catch(() => this.opened.delete(row.id))
      this.opened.set(row.id, found)
    }
    return found
  }

  forget(id: string) {
    this.opened.delete(id)
  }

  /**
   * After a master-key rotation: re-wraps under the active master key what an older one wraps in
   * every registered repository (and the environment's, registered or not). One repository that
   * fails does not stop the others; its error is in the result.
   */
  async rewrapKeys(): Promise<RepositoryRewrap[]> {
    const environment = this.deps.config.repository
    const rows = await repo.listRepositories(this.deps.db)
    const places: { repository: string; url: string; config: () => Promise<BlobStoreConfig> }[] = rows.map(
      (row) => ({ repository: row.name, url: row.url, config: () => this.storeConfigOf(row) }),
    )
    if (!rows.some((row) => row.url === describeUrl(environment)))
      places.push({
        repository: 'PGA_BACKUP_REPOSITORY',
        url: describeUrl(environment),
        config: async () => environment,
      })
    const results: RepositoryRewrap[] = []
    for (const place of places) {
      const { repository, url } = place
      try {
        const store = openBlobStore(await place.config())
        results.push({
          repository,
          url,
          ...(await BackupRepository.rewrapKeys(store, this.deps.masterKeys())),
        })
      } catch (error) {
        results.push({ repository, url, error: (error as Error).message })
      }
    }
    return results
  }

  /** Where a repository's objects are. Those from the environment use its settings (credentials). */
  private async storeConfigOf(row: RepositoryRow): Promise<BlobStoreConfig> {
    const environment = this.deps.config.repository
    if (!row.fromEnvironment) return blobConfigOf(row, await this.credentialsOf(row))
    return row.url === describeUrl(environment) ? environment : withEnvironmentSettings(environment, row.url)
  }

  private async credentialsOf(row: RepositoryRow): Promise<RepositoryCredentials> {
    if (!row.credentialsEnc) return {}
    return JSON.parse(await this.deps.keyring().decrypt(row.credentialsEnc, credentialsField(row.id)))
  }
}

/** The URL of a repository without credentials, for records and the API. */
export function describeUrl(config: BlobStoreConfig): string {
  switch (config.kind) {
    case 'directory':
      return `file://${resolve(config.path)}`
    case 's3':
      return `s3://${config.bucket}/${config.prefix}`
    case 'gcs':
      return `gs://${config.bucket}/${config.prefix}`
    case 'azure':
      return `azure://${config.account}/${config.container}/${config.prefix}`
  }
}
