// Opens the object store a configuration names (parseBlobUrl reads it from a URL).
import type { BlobStore, BlobStoreConfig } from './blob-store.ts'
import { DirectoryBlobStore } from './directory.ts'
import { S3BlobStore } from './s3.ts'

export function openBlobStore(config: BlobStoreConfig): BlobStore {
  return config.kind === 's3'
    ? new S3BlobStore(config.bucket, config.prefix, config.s3)
    : new DirectoryBlobStore(config.path)
}
