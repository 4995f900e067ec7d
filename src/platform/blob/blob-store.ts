// Object storage behind one small interface: a local directory (embedded default, and any mounted
// file system), S3 and S3-compatible servers, Google Cloud Storage (through its S3-compatible XML
// API) and Azure Blob Storage. Keys are relative paths with `/` separators. Errors the adapters
// throw are BlobStoreError (errors.ts), whose text never holds credentials.
export interface BlobStore {
  /** Where objects go, for logs and records (no credentials). */
  readonly description: string
  put(key: string, body: Uint8Array, contentType?: string): Promise<void>
  /** The object's bytes, or null when it does not exist. */
  get(key: string): Promise<Uint8Array | null>
  /** Removes the object; removing one that does not exist is not an error. */
  delete(key: string): Promise<void>
  /** Keys under a prefix (a plain string prefix, not only whole segments), in lexical order. */
  list(prefix: string): Promise<string[]>
  /** The object's size without reading it, or null when it does not exist. */
  stat?(key: string): Promise<{ size: number } | null>
  /** Removes what is left under a directory-like prefix that `list` does not show (the temporary
   * files of writers that died), after its objects were deleted. */
  clearPrefix?(prefix: string): Promise<void>
}

export type S3Settings = {
  endpoint?: string
  region: string
  accessKeyId?: string
  secretAccessKey?: string
  forcePathStyle: boolean
}

/** Google Cloud Storage HMAC key (used through the S3-compatible XML API). */
export type GcsSettings = {
  /** Default https://storage.googleapis.com (another for Private Service Connect). */
  endpoint?: string
  accessKeyId?: string
  secretAccessKey?: string
}

/** Exactly one of accountKey, sasToken or connectionString. */
export type AzureSettings = {
  /**
   * The account's blob service URL. Default `https://<account>.blob.core.windows.net`; a
   * sovereign cloud's (`https://<account>.blob.core.usgovcloudapi.net`) or Azurite's
   * (`http://127.0.0.1:10000/<account>`). Ignored with a connection string (it names its own).
   */
  endpoint?: string
  /** Shared key (base64) of the account. */
  accountKey?: string
  /** A SAS token (account or container), with or without the leading `?`. */
  sasToken?: string
  /** A connection string with AccountKey or SharedAccessSignature. */
  connectionString?: string
}

export type BlobStoreConfig =
  | { kind: 'directory'; path: string }
  | { kind: 's3'; bucket: string; prefix: string; s3: S3Settings }
  /** Google Cloud Storage: the S3 adapter with Google's endpoint and dialect. */
  | { kind: 'gcs'; bucket: string; prefix: string; s3: S3Settings }
  | { kind: 'azure'; account: string; container: string; prefix: string; azure: AzureSettings }

/** Tuning that is not part of a store's address. */
export type BlobStoreOptions = {
  /** Keys per listing request (S3 MaxKeys, Azure maxPageSize); the servers' default when unset. */
  listPageSize?: number
}

/** Keys are relative, `/`-separated, with no `.` or `..` segment (no escape from the root). */
export function checkKey(key: string): string {
  const segments = key.split('/')
  if (!key || key.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..'))
    throw new Error(`invalid object key ${JSON.stringify(key)}`)
  return key
}

export { parseBlobUrl } from './url.ts'
