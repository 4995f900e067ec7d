// S3 and S3-compatible servers (path-style addressing for those that need it), and Google Cloud
// Storage through its S3-compatible XML API. Credentials come from the configuration or, when
// unset, the AWS SDK's default chain (environment, profile, IAM role); they never appear in
// errors or logs (errors are BlobStoreError, scrubbed). The SDK is loaded on first use, so a
// service that stores nothing in S3 does not pay for loading it at start-up.
//
// Tested (test/integration/blob-store.test.ts): the S3 code path against s3rver, once as s3://
// and once as gs:// pointed at s3rver; and, against a server that records requests, that gs://
// requests carry no checksum headers, sign with the HMAC key for region `auto`, path style.
// Not tested: Google Cloud Storage itself, nor AWS S3 (no access from the test machines; s3rver
// does not even check SigV4 signatures, only access key ids). The GCS dialect follows Google's
// documented interoperability (HMAC keys, SigV4, path-style requests at
// https://storage.googleapis.com, ListObjectsV2 with continuation tokens); it turns off the AWS
// SDK's default CRC32 checksums (since SDK 3.729), which the XML API refuses (ExcessHeaderValues
// on PutObject; see milvus-io/milvus-storage#480 and langfuse/langfuse#13280). Multi-object
// delete, which GCS lacks, is not used.
import type { S3Client } from '@aws-sdk/client-s3'
import type { BlobStore, BlobStoreOptions, S3Settings } from './blob-store.ts'
import { checkKey } from './blob-store.ts'
import { blobStoreError } from './errors.ts'

export type S3Dialect = 's3' | 'gcs'

const loadSdk = () => import('@aws-sdk/client-s3')

export class S3BlobStore implements BlobStore {
  private client: Promise<S3Client> | undefined
  private readonly secrets: string[]

  constructor(
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly settings: S3Settings,
    private readonly options: BlobStoreOptions & { dialect?: S3Dialect } = {},
  ) {
    this.secrets = [settings.secretAccessKey, settings.accessKeyId].filter((s): s is string => !!s)
  }

  get description() {
    return `${this.options.dialect === 'gcs' ? 'gs' : 's3'}://${this.bucket}/${this.prefix}`
  }

  private connect(): Promise<S3Client> {
    this.client ??= loadSdk().then(({ S3Client }) => {
      const s = this.settings
      return new S3Client({
        region: s.region,
        forcePathStyle: s.forcePathStyle,
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(s.accessKeyId && s.secretAccessKey
          ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } }
          : {}),
        ...(this.options.dialect === 'gcs'
          ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
          : {}),
      })
    })
    return this.client
  }

  private objectKey(key: string) {
    return this.prefix ? `${this.prefix}/${checkKey(key)}` : checkKey(key)
  }

  private failure(what: string, error: unknown) {
    return blobStoreError(`${this.description}: ${what}`, error, this.secrets)
  }

  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    const Key = this.objectKey(key)
    const [{ PutObjectCommand }, client] = await Promise.all([loadSdk(), this.connect()])
    try {
      await client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentType: contentType }),
      )
    } catch (error) {
      throw this.failure(`put ${key}`, error)
    }
  }

  async get(key: string): Promise<Uint8Array | null> {
    const Key = this.objectKey(key)
    const [{ GetObjectCommand }, client] = await Promise.all([loadSdk(), this.connect()])
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: this.bucket, Key }))
      return out.Body ? await out.Body.transformToByteArray() : new Uint8Array()
    } catch (error) {
      // NoSuchKey only: a missing bucket (NoSuchBucket) is an error, not an absent object.
      if ((error as { name?: string }).name === 'NoSuchKey') return null
      throw this.failure(`get ${key}`, error)
    }
  }

  /** HEAD: a 404 is null (S3 sends no body to HEAD, so a missing bucket also reads as null here). */
  async stat(key: string): Promise<{ size: number } | null> {
    const Key = this.objectKey(key)
    const [{ HeadObjectCommand }, client] = await Promise.all([loadSdk(), this.connect()])
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }))
      return { size: out.ContentLength ?? 0 }
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } }
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null
      throw this.failure(`stat ${key}`, error)
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.objectKey(key)
    const [{ DeleteObjectCommand }, client] = await Promise.all([loadSdk(), this.connect()])
    try {
      await client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }))
    } catch (error) {
      throw this.failure(`delete ${key}`, error)
    }
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.prefix ? `${this.prefix}/` : ''
    const [{ ListObjectsV2Command }, client] = await Promise.all([loadSdk(), this.connect()])
    const keys: string[] = []
    let token: string | undefined
    try {
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: base + prefix,
            ContinuationToken: token,
            ...(this.options.listPageSize ? { MaxKeys: this.options.listPageSize } : {}),
          }),
        )
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(base.length))
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } catch (error) {
      throw this.failure(`list ${JSON.stringify(prefix)}`, error)
    }
    return keys.sort()
  }

  close() {
    void this.client?.then((client) => client.destroy())
  }
}
