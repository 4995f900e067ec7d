// Object store URLs: `s3://bucket/prefix`, `gs://bucket/prefix`, `azure://account/container/prefix`,
// `file:///path` or a plain path. Credentials never go in the URL (they come from the settings),
// and error messages show the URL without any user info, query or fragment.
import type { AzureSettings, BlobStoreConfig, GcsSettings, S3Settings } from './blob-store.ts'

const accepted =
  's3://bucket/prefix, gs://bucket/prefix, azure://account/container/prefix, file:///path or a directory'

/** Google Cloud Storage's S3-compatible XML API. */
export const gcsEndpoint = 'https://storage.googleapis.com'

/** The URL as it may be shown: no user info, no query, no fragment. */
function shown(url: string): string {
  return url.replace(/[?#].*$/s, '').replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1')
}

/** Splits `scheme://authority/a/b/` into the authority and the path segments, refusing credentials. */
function split(url: string, scheme: string): { authority: string; segments: string[] } {
  const rest = url.slice(`${scheme}://`.length)
  const [authority = '', ...path] = rest.replace(/[?#].*$/s, '').split('/')
  if (/[?#]/.test(rest) || authority.includes('@'))
    throw new Error(
      `${shown(url)}: credentials and options do not belong in the URL (user info, ?query and #fragment are refused); give them in the settings`,
    )
  const segments = path.filter(Boolean)
  if (segments.some((s) => s === '.' || s === '..'))
    throw new Error(`${shown(url)}: the prefix may not hold . or .. segments`)
  return { authority, segments }
}

function s3Config(url: string, s3: S3Settings): BlobStoreConfig {
  const { authority: bucket, segments } = split(url, 's3')
  if (!bucket) throw new Error(`${shown(url)}: no bucket`)
  return { kind: 's3', bucket, prefix: segments.join('/'), s3 }
}

/** gs:// is the S3 adapter against Google's XML API with an HMAC key (path-style requests). */
function gcsConfig(url: string, s3: S3Settings, gcs: GcsSettings | undefined): BlobStoreConfig {
  const { authority: bucket, segments } = split(url, 'gs')
  if (!bucket) throw new Error(`${shown(url)}: no bucket`)
  if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket))
    throw new Error(`${shown(url)}: ${JSON.stringify(bucket)} is not a Cloud Storage bucket name`)
  const accessKeyId = gcs?.accessKeyId ?? s3.accessKeyId
  const secretAccessKey = gcs?.secretAccessKey ?? s3.secretAccessKey
  return {
    kind: 'gcs',
    bucket,
    prefix: segments.join('/'),
    s3: {
      endpoint: gcs?.endpoint ?? gcsEndpoint,
      region: 'auto',
      forcePathStyle: true,
      ...(accessKeyId ? { accessKeyId } : {}),
      ...(secretAccessKey ? { secretAccessKey } : {}),
    },
  }
}

function azureConfig(url: string, azure: AzureSettings | undefined): BlobStoreConfig {
  const { authority: account, segments } = split(url, 'azure')
  const [container = '', ...prefix] = segments
  if (!account || !container) throw new Error(`${shown(url)}: use azure://account/container/prefix`)
  if (!/^[a-z0-9]{3,24}$/.test(account))
    throw new Error(`${shown(url)}: ${JSON.stringify(account)} is not a storage account name`)
  if (!/^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/.test(container))
    throw new Error(`${shown(url)}: ${JSON.stringify(container)} is not a container name`)
  if (prefix.some((s) => s.endsWith('.')))
    throw new Error(
      `${shown(url)}: Azure drops a trailing dot in a path segment; the prefix may not end one with it`,
    )
  return { kind: 'azure', account, container, prefix: prefix.join('/'), azure: azure ?? {} }
}

/**
 * Reads an object store URL. `s3` settings serve s3:// (and, unless `gcs` names its own HMAC key,
 * gs://); `azure` settings serve azure:// (their credentials are checked when the store opens).
 */
export function parseBlobUrl(
  url: string,
  s3: S3Settings,
  more: { azure?: AzureSettings; gcs?: GcsSettings } = {},
): BlobStoreConfig {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    if (!url) throw new Error(`an empty object store URL: use ${accepted}`)
    return { kind: 'directory', path: url }
  }
  switch (scheme) {
    case 's3':
      return s3Config(url, s3)
    case 'gs':
      return gcsConfig(url, s3, more.gcs)
    case 'azure':
      return azureConfig(url, more.azure)
    case 'file':
      return { kind: 'directory', path: decodeURIComponent(new URL(url).pathname) }
    default:
      throw new Error(`${shown(url)}: unsupported object store URL; use ${accepted}`)
  }
}
