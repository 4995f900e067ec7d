// Opens the object store a configuration names (parseBlobUrl reads it from a URL). Opening does
// no I/O: the cloud SDKs load and connect on the first request.
import { AzureBlobStore } from './azure.ts'
import type { BlobStore, BlobStoreConfig, BlobStoreOptions } from './blob-store.ts'
import { DirectoryBlobStore } from './directory.ts'
import { S3BlobStore } from './s3.ts'

/** Throws when the configuration cannot work (Azure: not exactly one credential, a bad endpoint). */
export function openBlobStore(config: BlobStoreConfig, options: BlobStoreOptions = {}): BlobStore {
  switch (config.kind) {
    case 'directory':
      return new DirectoryBlobStore(config.path)
    case 's3':
      return new S3BlobStore(config.bucket, config.prefix, config.s3, options)
    case 'gcs':
      return new S3BlobStore(config.bucket, config.prefix, config.s3, { ...options, dialect: 'gcs' })
    case 'azure':
      return new AzureBlobStore(config.account, config.container, config.prefix, config.azure, options)
  }
}
