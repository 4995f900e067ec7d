// Object storage behind one small interface: a local directory (embedded default, and any mounted
// file system) or S3 and S3-compatible servers. Keys are relative paths with `/` separators.
export interface BlobStore {
  /** Where objects go, for logs and records (no credentials). */
  readonly description: string
  put(key: string, body: Uint8Array, contentType?: string): Promise<void>
  /** The object's bytes, or null when it does not exist. */
  get(key: string): Promise<Uint8Array | null>
  delete(key: string): Promise<void>
  /** Keys under a prefix, in lexical order. */
  list(prefix: string): Promise<string[]>
}

export type S3Settings = {
  endpoint?: string
  region: string
  accessKeyId?: string
  secretAccessKey?: string
  forcePathStyle: boolean
}

export type BlobStoreConfig =
  | { kind: 'directory'; path: string }
  | { kind: 's3'; bucket: string; prefix: string; s3: S3Settings }

/** Keys are relative, `/`-separated, with no `.` or `..` segment (no escape from the root). */
export function checkKey(key: string): string {
  const segments = key.split('/')
  if (!key || key.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..'))
    throw new Error(`invalid object key ${JSON.stringify(key)}`)
  return key
}

/** `s3://bucket/prefix` → S3; `file:///path` or a path → a directory. */
export function parseBlobUrl(url: string, s3: S3Settings): BlobStoreConfig {
  if (url.startsWith('s3://')) {
    const [bucket = '', ...rest] = url.slice('s3://'.length).split('/')
    if (!bucket) throw new Error(`${url}: no bucket`)
    return { kind: 's3', bucket, prefix: rest.filter(Boolean).join('/'), s3 }
  }
  if (url.startsWith('file://')) return { kind: 'directory', path: decodeURIComponent(new URL(url).pathname) }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new Error(`${url}: use s3://bucket/prefix or a directory`)
  return { kind: 'directory', path: url }
}
