// Azure Blob Storage (block blobs) with @azure/storage-blob: a container, optionally under a
// key prefix. Authentication by the account's shared key, a SAS token (account or container) or
// a connection string; `endpoint` points at a sovereign cloud or at Azurite. The container must
// exist (a SAS may not allow creating it). The SDK is loaded on first use (it costs ~0.3 s).
//
// Credentials never leave this file: the SDK's errors carry the request (its URL holds a SAS
// signature, its headers the Authorization) and real Azure adds an AuthenticationErrorDetail with
// the signature it received; errors are rebuilt as BlobStoreError from the status, the error code
// and the first line of the message, then scrubbed of every credential this store was given.
// Tested against Azurite (test/integration/blob-store.test.ts), with all three kinds of credential.
import type { ContainerClient } from '@azure/storage-blob'
import type { AzureSettings, BlobStore, BlobStoreOptions } from './blob-store.ts'
import { checkKey } from './blob-store.ts'
import { blobStoreError } from './errors.ts'

const loadSdk = () => import('@azure/storage-blob')

type Credential =
  | { kind: 'key'; endpoint: string; accountKey: string }
  | { kind: 'sas'; endpoint: string; sasToken: string }
  | { kind: 'connection'; connectionString: string }

/** `Name=value;...` parts of a connection string (values may hold `=`). */
function connectionStringParts(value: string): Map<string, string> {
  const parts = new Map<string, string>()
  for (const part of value.split(';')) {
    const at = part.indexOf('=')
    if (at > 0) parts.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim())
  }
  return parts
}

/** Every form in which a credential might be echoed: whole, and its signature alone. */
function secretsOf(settings: AzureSettings): string[] {
  const secrets: string[] = []
  const sas = (token: string) => {
    secrets.push(token, token.replace(/^\?/, ''))
    const sig = new URLSearchParams(token.replace(/^\?/, '')).get('sig')
    if (sig) secrets.push(sig, encodeURIComponent(sig))
  }
  if (settings.accountKey) secrets.push(settings.accountKey)
  if (settings.sasToken) sas(settings.sasToken)
  if (settings.connectionString) {
    const parts = connectionStringParts(settings.connectionString)
    secrets.push(settings.connectionString)
    const key = parts.get('accountkey')
    if (key) secrets.push(key)
    const token = parts.get('sharedaccesssignature')
    if (token) sas(token)
  }
  return secrets
}

export class AzureBlobStore implements BlobStore {
  private client: Promise<ContainerClient> | undefined
  private readonly credential: Credential
  private readonly secrets: string[]

  constructor(
    private readonly account: string,
    private readonly containerName: string,
    private readonly prefix: string,
    settings: AzureSettings,
    private readonly options: BlobStoreOptions = {},
  ) {
    this.secrets = secretsOf(settings)
    this.credential = this.credentialOf(settings)
  }

  get description() {
    return `azure://${this.account}/${this.containerName}/${this.prefix}`
  }

  private credentialOf(s: AzureSettings): Credential {
    const given = [s.accountKey, s.sasToken, s.connectionString].filter(Boolean).length
    if (given !== 1)
      throw new Error(
        `${this.description}: give exactly one of an account key, a SAS token or a connection string (${given} given)`,
      )
    if (s.connectionString) {
      const parts = connectionStringParts(s.connectionString)
      const named = parts.get('accountname')
      if (named && named !== this.account)
        throw new Error(`${this.description}: the connection string is for account ${JSON.stringify(named)}`)
      if (!parts.get('accountkey') && !parts.get('sharedaccesssignature'))
        throw new Error(
          `${this.description}: the connection string has no AccountKey or SharedAccessSignature`,
        )
      return { kind: 'connection', connectionString: s.connectionString }
    }
    let endpoint = `https://${this.account}.blob.core.windows.net`
    if (s.endpoint) {
      let url: URL
      try {
        url = new URL(s.endpoint)
      } catch {
        throw new Error(`${this.description}: the endpoint is not a URL`)
      }
      if (!/^https?:$/.test(url.protocol) || url.search || url.hash || url.username || url.password)
        throw new Error(
          `${this.description}: the endpoint must be an http(s) URL without credentials, query or fragment (a SAS token goes in its own setting)`,
        )
      endpoint = s.endpoint.replace(/\/+$/, '')
    }
    if (s.accountKey) return { kind: 'key', endpoint, accountKey: s.accountKey }
    return { kind: 'sas', endpoint, sasToken: (s.sasToken ?? '').replace(/^\?/, '') }
  }

  private connect(): Promise<ContainerClient> {
    this.client ??= loadSdk().then((sdk) => {
      const c = this.credential
      const service =
        c.kind === 'connection'
          ? sdk.BlobServiceClient.fromConnectionString(c.connectionString)
          : c.kind === 'key'
            ? new sdk.BlobServiceClient(
                c.endpoint,
                new sdk.StorageSharedKeyCredential(this.account, c.accountKey),
              )
            : new sdk.BlobServiceClient(`${c.endpoint}?${c.sasToken}`, new sdk.AnonymousCredential())
      return service.getContainerClient(this.containerName)
    })
    return this.client.catch((error) => {
      this.client = undefined
      throw this.failure('connect', error)
    })
  }

  /** The blob name; Azure strips a trailing dot from a path segment, so such keys are refused. */
  private blobName(key: string) {
    if (/\.(\/|$)/.test(checkKey(key)))
      throw new Error(`invalid object key ${JSON.stringify(key)} (Azure drops a trailing dot in a segment)`)
    return this.prefix ? `${this.prefix}/${key}` : key
  }

  private failure(what: string, error: unknown) {
    return blobStoreError(`${this.description}: ${what}`, error, this.secrets)
  }

  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    const name = this.blobName(key)
    const container = await this.connect()
    try {
      await container
        .getBlockBlobClient(name)
        .uploadData(body, { blobHTTPHeaders: { blobContentType: contentType } })
    } catch (error) {
      throw this.failure(`put ${key}`, error)
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    const name = this.blobName(key)
    const container = await this.connect()
    try {
      // One request; the SDK resumes a broken body from where it stopped (same ETag) on its own.
      const response = await container.getBlobClient(name).download(0, undefined, { maxRetryRequests: 4 })
      return await readAll(response.readableStreamBody, response.contentLength)
    } catch (error) {
      if (errorCode(error) === 'BlobNotFound') return null // ContainerNotFound stays an error
      throw this.failure(`get ${key}`, error)
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    const name = this.blobName(key)
    const container = await this.connect()
    try {
      return { size: (await container.getBlobClient(name).getProperties()).contentLength ?? 0 }
    } catch (error) {
      if (errorCode(error) === 'BlobNotFound') return null
      throw this.failure(`stat ${key}`, error)
    }
  }

  async delete(key: string): Promise<void> {
    const name = this.blobName(key)
    const container = await this.connect()
    try {
      await container.getBlobClient(name).deleteIfExists({ deleteSnapshots: 'include' })
    } catch (error) {
      throw this.failure(`delete ${key}`, error)
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.prefix ? `${this.prefix}/` : ''
    const container = await this.connect()
    const size = this.options.listPageSize
    const keys: string[] = []
    try {
      // Metadata marks the directories a hierarchical-namespace (Data Lake Gen2) account lists as
      // blobs (hdi_isfolder); they are not objects.
      const listing = container.listBlobsFlat({ prefix: base + prefix, includeMetadata: true })
      for await (const page of listing.byPage(size ? { maxPageSize: size } : {}))
        for (const item of page.segment.blobItems)
          if (item.metadata?.hdi_isfolder !== 'true' && !item.name.endsWith('/'))
            keys.push(item.name.slice(base.length))
    } catch (error) {
      throw this.failure(`list ${JSON.stringify(prefix)}`, error)
    }
    return keys.sort()
  }
}

/** The storage error code: in the body for most requests, in x-ms-error-code for HEAD. */
function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; details?: { errorCode?: unknown } }
  const code = e.details?.errorCode ?? e.code
  return typeof code === 'string' ? code : undefined
}

/** A download body into one array, checked against the length the service announced. */
async function readAll(
  body: NodeJS.ReadableStream | undefined,
  length: number | undefined,
): Promise<Uint8Array> {
  if (!body) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : (chunk as Uint8Array)
    chunks.push(bytes)
    total += bytes.byteLength
  }
  if (length !== undefined && total !== length) throw new Error(`short read: ${total} of ${length} bytes`)
  const out = new Uint8Array(total)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.byteLength
  }
  return out
}
