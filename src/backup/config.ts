// The backup section of the configuration: the default repository, the pipeline's settings,
// continuous WAL, where the PostgreSQL programs are, and who runs a restore drill's server.
import { resolve } from 'node:path'
import {
  anyUrl,
  boolean,
  defineVariables,
  duration,
  Expected,
  integer,
  matching,
  oneOf,
  optional,
  type ParsedVariables,
  text,
} from '../config-kit.ts'
import {
  type AzureSettings,
  type BlobStoreConfig,
  parseBlobUrl,
  type S3Settings,
} from '../platform/blob/blob-store.ts'
// The names only: the compression code (zlib, lz4) loads with the backups that use it.
import { type Compression, compressions } from './compression-names.ts'

const repositoryUrl = {
  parse(value: string): string | Expected {
    try {
      parseBlobUrl(value, { region: 'us-east-1', forcePathStyle: false })
      return value
    } catch {
      return new Expected(
        'file:///path, a directory, s3://bucket/prefix, gs://bucket/prefix or azure://account/container/prefix',
      )
    }
  },
}

export const backupVariables = defineVariables({
  PGA_BACKUP_ENABLED: {
    parser: boolean,
    default: 'true',
    example: 'false',
    doc: 'Run backups, restores, schedules and continuous WAL on this replica (replicas share the work through leases).',
  },
  PGA_BACKUP_REPOSITORY: {
    parser: optional(repositoryUrl),
    default: undefined,
    example: 's3://pga-backups/prod',
    doc: 'The default backup repository (more can be added through the API): a directory or file:// URL (an NFS mount for several replicas), s3://bucket/prefix (with the PGA_S3_* settings), gs://bucket/prefix (Google Cloud Storage through its S3-compatible API, HMAC keys in PGA_S3_ACCESS_KEY_ID/SECRET), or azure://account/container/prefix (with PGA_AZURE_*). Unset: PGA_DATA_DIR/backups.',
  },
  PGA_AZURE_STORAGE_KEY: {
    parser: optional(text),
    default: undefined,
    example: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
    doc: 'Azure Storage account key for an azure:// repository (or use PGA_AZURE_STORAGE_SAS or PGA_AZURE_STORAGE_CONNECTION_STRING).',
  },
  PGA_AZURE_STORAGE_SAS: {
    parser: optional(text),
    default: undefined,
    example: 'sv=2024-08-04&ss=b&srt=co&sp=rwdl&sig=...',
    doc: 'A shared access signature for an azure:// repository.',
  },
  PGA_AZURE_STORAGE_CONNECTION_STRING: {
    parser: optional(text),
    default: undefined,
    example: 'DefaultEndpointsProtocol=https;AccountName=pga;AccountKey=...;EndpointSuffix=core.windows.net',
    doc: 'An Azure Storage connection string for an azure:// repository.',
  },
  PGA_AZURE_STORAGE_ENDPOINT: {
    parser: optional(anyUrl),
    default: undefined,
    example: 'http://127.0.0.1:10000/devstoreaccount1',
    doc: 'Blob endpoint of an Azure-compatible service (Azurite, sovereign clouds); unset: https://<account>.blob.core.windows.net.',
  },
  PGA_BACKUP_COMPRESSION: {
    parser: oneOf(compressions, `one of ${compressions.join(', ')}`),
    default: 'zstd',
    example: 'gzip',
    doc: 'Compression of backup chunks and WAL (zstd needs the binary or Node >= 22.15; the Node 20 build falls back to gzip).',
  },
  PGA_BACKUP_COMPRESSION_LEVEL: {
    parser: optional(integer(0, 22)),
    default: undefined,
    example: '6',
    doc: 'Compression level; unset: zstd 3, gzip 6.',
  },
  PGA_BACKUP_CHUNK_SIZE: {
    parser: integer(65_536, 67_108_864),
    default: '4194304',
    example: '8388608',
    doc: 'Bytes per chunk: the unit of deduplication between backups, of encryption and of upload.',
  },
  PGA_BACKUP_CONCURRENCY: {
    parser: integer(1, 64),
    default: '4',
    example: '8',
    doc: 'Chunk uploads in flight per backup (memory is about chunk size x (concurrency + threads + 2)).',
  },
  PGA_BACKUP_THREADS: {
    parser: optional(integer(1, 64)),
    default: undefined,
    example: '2',
    doc: 'Worker threads per backup computing chunk ids, compressing and encrypting, while the event loop reads the stream. Unset: one per CPU core, at most 4.',
  },
  PGA_BACKUP_COPY_METHOD: {
    parser: oneOf(['auto', 'stream', 'local'], 'one of auto, stream, local'),
    default: 'auto',
    example: 'stream',
    doc: 'How physical backups read the server: local reads its data directory directly (same host, readable, same system identifier; faster), stream uses pg_basebackup; auto takes local when possible.',
  },
  PGA_BACKUP_WAL_INTERVAL: {
    parser: duration,
    default: '1s',
    example: '5s',
    doc: 'How often the WAL segment being written is copied to the repository: the RPO of continuous WAL.',
  },
  PGA_BACKUP_SPOOL_DIR: {
    parser: optional(text),
    default: undefined,
    example: '/var/lib/pganalytics/wal-spool',
    doc: 'Local directory pg_receivewal writes to before upload. Unset: PGA_DATA_DIR/wal-spool.',
  },
  PGA_BACKUP_WORK_DIR: {
    parser: optional(text),
    default: undefined,
    example: '/var/lib/pganalytics/restore-drills',
    doc: 'Scratch space of restore drills: a whole restored copy at a time. Unset: PGA_DATA_DIR/restore-drills. When the service runs as root, PGA_BACKUP_DRILL_OS_USER must be able to reach it.',
  },
  PGA_PG_BIN_DIR: {
    parser: optional(text),
    default: undefined,
    example: '/usr/lib/postgresql/17/bin',
    doc: 'Where pg_basebackup, pg_receivewal, pg_dump, pg_restore, pg_ctl and postgres are looked for first (then /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin and PATH).',
  },
  PGA_BACKUP_DRILL_OS_USER: {
    parser: matching(/^[a-z_][a-z0-9_-]*$/, 'a user name'),
    default: 'postgres',
    example: 'postgres',
    doc: 'When the service runs as root: the OS user the restore drill starts PostgreSQL as (it refuses to run as root).',
  },
})

export type BackupConfig = {
  enabled: boolean
  repository: BlobStoreConfig
  /** Whether the repository is the embedded default (a directory under PGA_DATA_DIR). */
  defaultRepository: boolean
  compression: Compression
  compressionLevel?: number
  chunkSize: number
  concurrency: number
  /** Chunk threads per backup; unset: defaultChunkThreads(). */
  threads?: number
  /** Physical backups: read the data directory (local), pg_basebackup (stream), or local when possible. */
  copyMethod: 'auto' | 'stream' | 'local'
  walIntervalMs: number
  spoolDir: string
  /** Scratch space of restore drills (a whole restored copy at a time). */
  workDir: string
  pgBinDir?: string
  drillOsUser: string
}

export function backupConfig(
  e: ParsedVariables<typeof backupVariables>,
  shared: { dataDir: string; s3: S3Settings },
): BackupConfig {
  const azure: AzureSettings = {
    ...(e.PGA_AZURE_STORAGE_ENDPOINT ? { endpoint: e.PGA_AZURE_STORAGE_ENDPOINT } : {}),
    ...(e.PGA_AZURE_STORAGE_KEY ? { accountKey: e.PGA_AZURE_STORAGE_KEY } : {}),
    ...(e.PGA_AZURE_STORAGE_SAS ? { sasToken: e.PGA_AZURE_STORAGE_SAS } : {}),
    ...(e.PGA_AZURE_STORAGE_CONNECTION_STRING
      ? { connectionString: e.PGA_AZURE_STORAGE_CONNECTION_STRING }
      : {}),
  }
  return {
    enabled: e.PGA_BACKUP_ENABLED,
    repository: parseBlobUrl(e.PGA_BACKUP_REPOSITORY ?? `${shared.dataDir}/backups`, shared.s3, { azure }),
    defaultRepository: e.PGA_BACKUP_REPOSITORY === undefined,
    compression: e.PGA_BACKUP_COMPRESSION,
    ...(e.PGA_BACKUP_COMPRESSION_LEVEL !== undefined
      ? { compressionLevel: e.PGA_BACKUP_COMPRESSION_LEVEL }
      : {}),
    chunkSize: e.PGA_BACKUP_CHUNK_SIZE,
    concurrency: e.PGA_BACKUP_CONCURRENCY,
    ...(e.PGA_BACKUP_THREADS !== undefined ? { threads: e.PGA_BACKUP_THREADS } : {}),
    copyMethod: e.PGA_BACKUP_COPY_METHOD,
    walIntervalMs: e.PGA_BACKUP_WAL_INTERVAL,
    spoolDir: resolve(e.PGA_BACKUP_SPOOL_DIR ?? `${shared.dataDir}/wal-spool`),
    workDir: resolve(e.PGA_BACKUP_WORK_DIR ?? `${shared.dataDir}/restore-drills`),
    ...(e.PGA_PG_BIN_DIR ? { pgBinDir: e.PGA_PG_BIN_DIR } : {}),
    drillOsUser: e.PGA_BACKUP_DRILL_OS_USER,
  }
}
