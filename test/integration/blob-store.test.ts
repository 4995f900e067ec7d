// The object stores behind archives and backups: the same behaviour from a directory, a real
// S3-compatible server (s3rver; also through the gs:// configuration, pointed at it), and a real
// Azure Blob emulator (Azurite) with each kind of credential. Then what only some of them have:
// credentials kept out of errors, missing containers, the directory's walk and durable puts.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { AzureSettings, BlobStore, BlobStoreOptions } from '../../src/platform/blob/blob-store.ts'
import { parseBlobUrl } from '../../src/platform/blob/blob-store.ts'
import { BlobStoreError, blobStoreError, scrubCredentials } from '../../src/platform/blob/errors.ts'
import { openBlobStore } from '../../src/platform/blob/open.ts'
import { startAzurite, type TestAzurite } from '../harness/azurite.ts'
import { tempDir } from '../harness/processes.ts'
import { startS3, type TestS3 } from '../harness/s3.ts'

// Records the directory store's file-system calls (passing them through) to see what it walks and syncs.
const fsCalls = vi.hoisted(() => ({ readdir: [] as string[], open: [] as string[] }))
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...actual,
    readdir: ((path: string, options?: unknown) => {
      fsCalls.readdir.push(String(path))
      return (actual.readdir as (p: string, o?: unknown) => Promise<unknown>)(path, options)
    }) as typeof actual.readdir,
    open: ((path: string, flags?: string) => {
      fsCalls.open.push(String(path))
      return actual.open(path, flags)
    }) as typeof actual.open,
  }
})

let s3: TestS3
let azurite: TestAzurite
let containerSas: string
const container = 'backups'
const dir = tempDir('blob')
const bytes = (text: string) => new TextEncoder().encode(text)
const same = (a: Uint8Array | null, b: Uint8Array) => a !== null && Buffer.from(a).equals(Buffer.from(b))
const azure = (ns: string, settings: AzureSettings, options?: BlobStoreOptions) =>
  openBlobStore(
    parseBlobUrl(`azure://${azurite.account}/${container}/${ns}`, s3.settings, { azure: settings }),
    options,
  )

/** Each test opens its store on a namespace of its own, so listing '' sees only its keys. */
const stores: Record<string, (ns: string, options?: BlobStoreOptions) => BlobStore> = {
  directory: (ns, options) => openBlobStore(parseBlobUrl(`${dir}/${ns}`, s3.settings), options),
  s3: (ns, options) => openBlobStore(parseBlobUrl(`s3://${s3.bucket}/s3/${ns}`, s3.settings), options),
  // gs:// as configured for Google (region auto, path style, SDK checksums off) against s3rver.
  'gs (S3 API, against s3rver)': (ns, options) =>
    openBlobStore(
      parseBlobUrl(`gs://${s3.bucket}/gs/${ns}`, s3.settings, {
        gcs: { endpoint: s3.endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      }),
      options,
    ),
  'azure (shared key)': (ns, options) =>
    azure(`key/${ns}`, { endpoint: azurite.endpoint, accountKey: azurite.accountKey }, options),
  'azure (SAS)': (ns, options) =>
    azure(`sas/${ns}`, { endpoint: azurite.endpoint, sasToken: containerSas }, options),
  'azure (connection string)': (ns, options) =>
    azure(`cs/${ns}`, { connectionString: azurite.connectionString }, options),
}

async function putAll(store: BlobStore, keys: string[], concurrency = 16) {
  const queue = [...keys]
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) await store.put(key, bytes(key))
    }),
  )
}

/**
 * s3rver's continuation tokens are DES, which OpenSSL 3 (Node 17+) and BoringSSL (Bun) refuse:
 * every truncated listing answers 500. The token is opaque to clients, so any reversible cipher
 * serves: while these tests run, 'des' alone becomes AES-128-CBC (key and IV zero-padded) in the
 * crypto module s3rver requires. Returns the undo.
 */
function letS3rverPaginate(): () => void {
  const crypto = createRequire(import.meta.url)('node:crypto') as Record<string, unknown>
  type Make = (algorithm: string, key: Buffer, iv: Buffer, options?: unknown) => unknown
  const original = {
    createCipheriv: crypto.createCipheriv as Make,
    createDecipheriv: crypto.createDecipheriv as Make,
  }
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc(16)]).subarray(0, 16)
  const des =
    (make: Make): Make =>
    (algorithm, key, iv, options) =>
      algorithm === 'des' ? make('aes-128-cbc', pad(key), pad(iv)) : make(algorithm, key, iv, options)
  crypto.createCipheriv = des(original.createCipheriv)
  crypto.createDecipheriv = des(original.createDecipheriv)
  return () => Object.assign(crypto, original)
}
let undoS3rverPatch = () => {}

beforeAll(async () => {
  undoS3rverPatch = letS3rverPaginate()
  ;[s3, azurite] = await Promise.all([startS3(), startAzurite()])
  const credential = new StorageSharedKeyCredential(azurite.account, azurite.accountKey)
  await new BlobServiceClient(azurite.endpoint, credential).getContainerClient(container).create()
  containerSas = generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse('racwdl'),
      expiresOn: new Date(Date.now() + 86_400_000),
    },
    credential,
  ).toString()
})
afterAll(async () => {
  await Promise.all([s3?.stop(), azurite?.stop()])
  undoS3rverPatch()
  rmSync(dir, { recursive: true, force: true })
})

describe.each(Object.keys(stores))('%s object store', (kind) => {
  const open = (ns: string, options?: BlobStoreOptions) =>
    (stores[kind] as (typeof stores)[string])(ns, options)

  it('puts, gets, stats, lists by prefix in order, deletes; a missing object is null', async () => {
    const store = open('basic')
    const body = new Uint8Array(300_000).map((_, i) => (i * 7) % 251)
    await store.put('audit/000002.jsonl.gz', body, 'application/gzip')
    await store.put('audit/000001.jsonl.gz', bytes('first'))
    await store.put('other/x', bytes('x'))
    expect(same(await store.get('audit/000002.jsonl.gz'), body)).toBe(true)
    expect(await store.stat?.('audit/000002.jsonl.gz')).toEqual({ size: 300_000 })
    expect(await store.list('audit/')).toEqual(['audit/000001.jsonl.gz', 'audit/000002.jsonl.gz'])
    expect(await store.get('audit/missing')).toBeNull()
    expect(await store.get('no/such/dir/missing')).toBeNull()
    expect(await store.stat?.('audit/missing')).toBeNull()
    await store.put('audit/000001.jsonl.gz', bytes('replaced'))
    expect(same(await store.get('audit/000001.jsonl.gz'), bytes('replaced'))).toBe(true)
    await store.delete('audit/000001.jsonl.gz')
    expect(await store.list('audit/')).toEqual(['audit/000002.jsonl.gz'])
    await store.delete('audit/never-there') // deleting nothing is not an error
    expect(store.description).not.toMatch(/S3RVER|AccountKey|sig=/)
    expect(store.description).not.toContain(azurite.accountKey)
  })

  it('lists nested prefixes: whole segments, part of a segment, nothing, everything', async () => {
    const store = open('nested')
    const keys = [
      'backups/b1/manifest.json',
      'backups/b1/chunks/ab/ab01',
      'backups/b1/chunks/ab/ab02',
      'backups/b1/chunks/cd/cd01',
      'backups/b10/manifest.json',
      'backups/b2/chunks/ef/ef01',
      'repository.json',
      'wal/00000001/000000010000000000000001',
      'wal/00000001/000000010000000000000002.partial',
      'wal/00000002.history',
      'odd/a b+c%20é.bin',
    ]
    await putAll(store, keys)
    expect(await store.list('')).toEqual([...keys].sort())
    expect(await store.list('backups/b1/')).toEqual([...keys.slice(0, 4)].sort())
    expect(await store.list('backups/b1')).toEqual([...keys.slice(0, 5)].sort())
    expect(await store.list('backups/b1/chunks/ab/ab0')).toEqual([
      'backups/b1/chunks/ab/ab01',
      'backups/b1/chunks/ab/ab02',
    ])
    expect(await store.list('backups/b1/manifest.json')).toEqual(['backups/b1/manifest.json'])
    expect(await store.list('wal/')).toEqual(keys.slice(7, 10))
    expect(await store.list('odd/')).toEqual(['odd/a b+c%20é.bin'])
    expect(same(await store.get('odd/a b+c%20é.bin'), bytes('odd/a b+c%20é.bin'))).toBe(true)
    for (const none of ['nothing/', 'backups/b3', 'backups//b1', '../', 'backups/../wal/'])
      expect(await store.list(none)).toEqual([])
  })

  it('keeps a large object whole (20 MiB)', { timeout: 180_000 }, async () => {
    const store = open('large')
    const body = new Uint8Array(randomBytes(20 * 1024 * 1024))
    await store.put('wal/large', body)
    expect(await store.stat?.('wal/large')).toEqual({ size: body.byteLength })
    expect(same(await store.get('wal/large'), body)).toBe(true)
  })

  it('lists across many pages in order', { timeout: 180_000 }, async () => {
    const store = open('paged', { listPageSize: 7 })
    const keys = Array.from({ length: 45 }, (_, i) => `chunks/${String(i % 5)}/${String(i).padStart(4, '0')}`)
    await putAll(store, keys)
    expect(await store.list('chunks/')).toEqual([...keys].sort())
    expect(await store.list('chunks/3/')).toEqual(keys.filter((k) => k.startsWith('chunks/3/')).sort())
  })

  it('refuses keys that could leave its root', async () => {
    const store = open('keys')
    for (const key of ['../escape', '/absolute', 'a/../../b', 'a//b', ''])
      await expect(store.put(key, new Uint8Array(1))).rejects.toThrow(/invalid object key/)
  })
})

describe('Azure specifics', () => {
  it('skips directory blobs of a hierarchical namespace; refuses a segment ending in a dot', async () => {
    const store = azure('hns', { endpoint: azurite.endpoint, accountKey: azurite.accountKey })
    const credential = new StorageSharedKeyCredential(azurite.account, azurite.accountKey)
    const raw = new BlobServiceClient(azurite.endpoint, credential).getContainerClient(container)
    // What a Data Lake Gen2 account lists for the directory it made implicitly (Azurite has no HNS).
    await raw.getBlockBlobClient('hns/backups').upload('', 0, { metadata: { hdi_isfolder: 'true' } })
    await store.put('backups/x', bytes('x'))
    expect(await store.list('')).toEqual(['backups/x'])
    await expect(store.put('wal/a./b', bytes('x'))).rejects.toThrow(/invalid object key .*trailing dot/)
  })
})

describe('S3 pagination at the server default page size', () => {
  it('lists more than 1000 keys', { timeout: 300_000 }, async () => {
    const store = (stores.s3 as (typeof stores)[string])('thousand')
    const keys = Array.from({ length: 1010 }, (_, i) => `k/${String(i).padStart(5, '0')}`)
    await putAll(store, keys, 32)
    expect(await store.list('k/')).toEqual(keys)
  })
})

describe('credentials stay out of errors', () => {
  const wrongKey = randomBytes(64).toString('base64')
  const wrongS3 = { accessKeyId: 'AKIAWRONG7Q2X', secretAccessKey: 'wrong-secret-6d1f0c' }
  // s3rver checks access key ids, not SigV4 signatures: a wrong id is what it refuses (the SDK's
  // error object carries it back as AWSAccessKeyId; the store's error must not).
  const cases: [string, () => BlobStore, string[]][] = [
    [
      's3 with a wrong access key',
      () => openBlobStore(parseBlobUrl(`s3://${s3.bucket}/x`, { ...s3.settings, ...wrongS3 })),
      Object.values(wrongS3),
    ],
    [
      'azure with a wrong shared key',
      () => azure('x', { endpoint: azurite.endpoint, accountKey: wrongKey }),
      [wrongKey],
    ],
    [
      'azure with a connection string holding a wrong key',
      () => azure('x', { connectionString: azurite.connectionString.replace(azurite.accountKey, wrongKey) }),
      [wrongKey],
    ],
  ]
  it.each(cases)('%s', async (_name, open, secrets) => {
    const store = open()
    for (const attempt of [() => store.put('k', bytes('x')), () => store.get('k'), () => store.list('')]) {
      const error = await attempt().then(
        () => null,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(BlobStoreError)
      expect((error as BlobStoreError).status).toBe(403)
      const texts = [
        String(error),
        (error as Error).stack,
        inspect(error, { depth: 9 }),
        JSON.stringify(error),
      ]
      for (const text of texts) for (const secret of secrets) expect(text).not.toContain(secret)
    }
  })

  it('scrubs what a server or a network error might echo (Azurite echoes nothing)', () => {
    const sig = 'c2lnbmF0dXJl+/='
    const echo = Object.assign(
      new Error(
        `request to https://a.blob.core.windows.net/c/k?sv=1&sig=${encodeURIComponent(sig)} failed\nRequestId:r-1\nAuthenticationErrorDetail: The MAC signature found in the HTTP request 'c2ln' is not ...`,
      ),
      { code: 'REQUEST_SEND_ERROR', details: { errorCode: 'X' } },
    )
    const error = blobStoreError('azure://a/c/: get k', echo, [sig, 'account-key-secret'])
    expect(error.message).toBe(
      'azure://a/c/: get k failed: (X) request to https://a.blob.core.windows.net/c/k?sv=1&sig=[redacted] failed [request id r-1]',
    )
    expect(
      scrubCredentials(
        'AccountKey=abc;SharedAccessSignature=sv=1&sig=x;Authorization: SharedKey acct:c2ln',
        [],
      ),
    ).toBe('AccountKey=[redacted];SharedAccessSignature=[redacted];Authorization: SharedKey [redacted]')
  })

  it('azure with a tampered SAS signature', async () => {
    const sig = new URLSearchParams(containerSas).get('sig') as string
    const forged = Buffer.from(randomBytes(32)).toString('base64')
    const store = azure('x', {
      endpoint: azurite.endpoint,
      sasToken: `?${containerSas.replace(encodeURIComponent(sig), encodeURIComponent(forged))}`,
    })
    const error = await store.put('k', bytes('x')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BlobStoreError)
    expect((error as BlobStoreError).status).toBe(403)
    for (const text of [String(error), inspect(error, { depth: 9 }), JSON.stringify(error)]) {
      expect(text).not.toContain(forged)
      expect(text).not.toContain(encodeURIComponent(forged))
    }
  })
})

describe('gs:// requests as the Cloud Storage XML API takes them', () => {
  it('sends no SDK checksum headers (refused by GCS), signs with the HMAC key, path style', async () => {
    const seen: IncomingHttpHeaders[] = []
    const server = createServer((req, res) => {
      seen.push({ ...req.headers, path: req.url })
      req.resume().on('end', () => res.writeHead(200, { etag: '"e"' }).end())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const gcs = { endpoint, accessKeyId: 'GOOG1EXAMPLE', secretAccessKey: 'hmac-secret' }
      await openBlobStore(parseBlobUrl('gs://bucket-1/repo', s3.settings, { gcs })).put('k', bytes('x'))
      await openBlobStore(parseBlobUrl('s3://bucket-1/repo', { ...s3.settings, endpoint })).put(
        'k',
        bytes('x'),
      )
      const [google, amazon] = seen as [IncomingHttpHeaders, IncomingHttpHeaders]
      expect(google.path).toMatch(/^\/bucket-1\/repo\/k/)
      expect(google.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=GOOG1EXAMPLE\/\d+\/auto\/s3\//)
      expect(
        Object.keys(google).filter(
          (h) => h.startsWith('x-amz-checksum') || h === 'x-amz-sdk-checksum-algorithm',
        ),
      ).toEqual([])
      expect(Object.keys(amazon)).toContain('x-amz-checksum-crc32') // what the S3 dialect sends (AWS takes it)
    } finally {
      server.close()
    }
  })
})

describe('a missing bucket or container is an error, not an absent object', () => {
  it('s3 and azure', async () => {
    const stores = [
      openBlobStore(parseBlobUrl('s3://no-such-bucket/x', s3.settings)),
      openBlobStore(
        parseBlobUrl(`azure://${azurite.account}/no-such-container/x`, s3.settings, {
          azure: { endpoint: azurite.endpoint, accountKey: azurite.accountKey },
        }),
      ),
    ]
    for (const store of stores) {
      await expect(store.get('k')).rejects.toMatchObject({
        status: 404,
        code: expect.stringMatching(/NoSuchBucket|ContainerNotFound/),
      })
      await expect(store.list('')).rejects.toBeInstanceOf(BlobStoreError)
    }
  })
})

describe('the directory store', () => {
  it('walks only the directory a prefix names, and leaves out puts in progress', async () => {
    const root = `${dir}/walk`
    const store = openBlobStore(parseBlobUrl(root, s3.settings))
    await putAll(store, ['backups/b1/chunks/ab/1', 'backups/b2/m', 'wal/1/a', 'wal/1/b'])
    await store.put('wal/1/c.1234.tmp', bytes('a temporary file is not an object'))
    fsCalls.readdir.length = 0
    expect(await store.list('backups/b1/')).toEqual(['backups/b1/chunks/ab/1'])
    expect(fsCalls.readdir.every((p) => p.startsWith(`${root}/backups/b1`))).toBe(true)
    fsCalls.readdir.length = 0
    expect(await store.list('wal/1/')).toEqual(['wal/1/a', 'wal/1/b'])
    expect(fsCalls.readdir).toEqual([`${root}/wal/1`])
    fsCalls.readdir.length = 0
    expect(await store.list('backups/b')).toEqual(['backups/b1/chunks/ab/1', 'backups/b2/m'])
    expect(fsCalls.readdir.every((p) => p.startsWith(`${root}/backups`))).toBe(true)
    expect(await openBlobStore(parseBlobUrl(`${dir}/never-made`, s3.settings)).list('')).toEqual([])
    // What a writer that died left under a prefix goes with clearPrefix, and nothing beside it.
    await store.delete('wal/1/a')
    await store.delete('wal/1/b')
    await store.clearPrefix?.('wal/1/')
    expect(existsSync(`${root}/wal/1`)).toBe(false)
    expect(await store.list('backups/')).toEqual(['backups/b1/chunks/ab/1', 'backups/b2/m'])
    await expect(store.clearPrefix?.('wal/../')).rejects.toThrow(/invalid object key/)
  })

  it('writes objects readable by the service user only, syncs the directories it changed', async () => {
    const root = `${dir}/durable`
    const store = openBlobStore(parseBlobUrl(root, s3.settings))
    await store.put('mode/check', new Uint8Array([1]))
    expect(statSync(`${root}/mode/check`).mode & 0o777).toBe(0o600)
    expect(readdirSync(`${root}/mode`)).toEqual(['check'])
    fsCalls.open.length = 0
    await store.put('mode/a/b/new', new Uint8Array([2]))
    expect(fsCalls.open.sort()).toEqual([`${root}/mode`, `${root}/mode/a`, `${root}/mode/a/b`])
    fsCalls.open.length = 0
    await store.put('mode/a/b/again', new Uint8Array([3]))
    expect(fsCalls.open).toEqual([`${root}/mode/a/b`])
  })
})

describe('object store URLs', () => {
  const settings = { region: 'us-east-1', forcePathStyle: false, accessKeyId: 'AK', secretAccessKey: 'SK' }
  it('reads every scheme', () => {
    expect(parseBlobUrl('s3://bucket/a/b/', settings)).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'a/b',
      s3: settings,
    })
    expect(parseBlobUrl('s3://bucket', settings)).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: '',
      s3: settings,
    })
    expect(parseBlobUrl('gs://my-bucket.example/repo/x', settings)).toEqual({
      kind: 'gcs',
      bucket: 'my-bucket.example',
      prefix: 'repo/x',
      s3: {
        endpoint: 'https://storage.googleapis.com',
        region: 'auto',
        forcePathStyle: true,
        accessKeyId: 'AK',
        secretAccessKey: 'SK',
      },
    })
    expect(
      parseBlobUrl('gs://b12/p', settings, { gcs: { accessKeyId: 'GOOG1', secretAccessKey: 'hmac' } }),
    ).toMatchObject({
      s3: { accessKeyId: 'GOOG1', secretAccessKey: 'hmac', endpoint: 'https://storage.googleapis.com' },
    })
    const az = { accountKey: 'a2V5' }
    expect(parseBlobUrl('azure://acct1/backups/prod/pg', settings, { azure: az })).toEqual({
      kind: 'azure',
      account: 'acct1',
      container: 'backups',
      prefix: 'prod/pg',
      azure: az,
    })
    expect(parseBlobUrl('azure://acct1/my-container', settings)).toMatchObject({
      container: 'my-container',
      prefix: '',
      azure: {},
    })
    expect(parseBlobUrl('file:///var/lib/x', settings)).toEqual({ kind: 'directory', path: '/var/lib/x' })
    expect(parseBlobUrl('file:///var/lib/with%20space', settings)).toEqual({
      kind: 'directory',
      path: '/var/lib/with space',
    })
    expect(parseBlobUrl('/var/lib/x', settings)).toEqual({ kind: 'directory', path: '/var/lib/x' })
    expect(parseBlobUrl('relative/dir', settings)).toEqual({ kind: 'directory', path: 'relative/dir' })
  })

  it('refuses other schemes, malformed names and credentials in the URL, without echoing them', () => {
    const refusals: [string, RegExp][] = [
      [
        'http://host/x',
        /unsupported object store URL; use s3:\/\/bucket\/prefix, gs:\/\/bucket\/prefix, azure:\/\//,
      ],
      ['wasbs://c@acct.blob.core.windows.net/x', /unsupported object store URL/],
      ['s3://', /no bucket/],
      ['gs://', /no bucket/],
      ['gs://UPPER/x', /not a Cloud Storage bucket name/],
      ['azure://acct1', /use azure:\/\/account\/container\/prefix/],
      ['azure://Bad_Account/c0ntainer', /not a storage account name/],
      ['azure://acct1/a--b', /not a container name/],
      ['azure://acct1/ab', /not a container name/],
      ['azure://acct1/cont/prefix./x', /trailing dot/],
      ['s3://bucket/a/../b', /may not hold \. or \.\./],
      ['', /empty object store URL/],
    ]
    for (const [url, message] of refusals) expect(() => parseBlobUrl(url, settings), url).toThrow(message)
    for (const url of [
      's3://AKIA:s3cr3t@bucket/x',
      'azure://acct1/cont/x?sv=2024&sig=s3cr3t',
      'gs://b12/x#s3cr3t',
    ]) {
      expect(() => parseBlobUrl(url, settings)).toThrow(/credentials and options do not belong in the URL/)
      try {
        parseBlobUrl(url, settings)
      } catch (error) {
        expect(String(error)).not.toContain('s3cr3t')
      }
    }
  })

  it('opens Azure only with exactly one credential and a clean endpoint, naming neither', () => {
    const at = (azureSettings: AzureSettings) => () =>
      openBlobStore(parseBlobUrl('azure://acct1/cont/x', settings, { azure: azureSettings }))
    expect(at({})).toThrow(/exactly one of an account key, a SAS token or a connection string \(0 given\)/)
    expect(at({ accountKey: 'a2V5', sasToken: 'sv=1&sig=s3cr3t' })).toThrow(/\(2 given\)/)
    expect(at({ accountKey: 'a2V5', endpoint: 'https://acct1.blob.core.windows.net/?sig=s3cr3t' })).toThrow(
      /without credentials, query or fragment/,
    )
    expect(at({ connectionString: 'AccountName=other;AccountKey=s3cr3t' })).toThrow(/for account "other"/)
    expect(at({ connectionString: 'AccountName=acct1;BlobEndpoint=http://x' })).toThrow(
      /no AccountKey or SharedAccessSignature/,
    )
    for (const bad of [
      { accountKey: 'a', sasToken: 's3cr3t' },
      { connectionString: 'AccountName=other;AccountKey=s3cr3t' },
    ])
      expect(() => at(bad)()).not.toThrow(/s3cr3t/)
    expect(
      at({ sasToken: '?sv=1&sig=abc', endpoint: 'https://acct1.blob.core.usgovcloudapi.net/' })().description,
    ).toBe('azure://acct1/cont/x')
  })
})
