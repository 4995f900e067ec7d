// The object stores behind archives and backups, against a real S3-compatible server (s3rver)
// and a directory: the same behaviour from both.
import { readdirSync, statSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlobStore } from '../../src/platform/blob/blob-store.ts'
import { parseBlobUrl } from '../../src/platform/blob/blob-store.ts'
import { openBlobStore } from '../../src/platform/blob/open.ts'
import { tempDir } from '../harness/processes.ts'
import { startS3, type TestS3 } from '../harness/s3.ts'

let s3: TestS3
const dir = tempDir('blob')
const stores: Record<string, () => BlobStore> = {
  directory: () => openBlobStore(parseBlobUrl(dir, s3.settings)),
  s3: () => openBlobStore(parseBlobUrl(`s3://${s3.bucket}/archive/one`, s3.settings)),
}

beforeAll(async () => {
  s3 = await startS3()
})
afterAll(async () => {
  await s3?.stop()
})

describe.each(Object.keys(stores))('%s object store', (kind) => {
  it('puts, gets, lists by prefix in order, deletes; a missing object is null', async () => {
    const store = (stores[kind] as () => BlobStore)()
    const body = new Uint8Array(300_000).map((_, i) => (i * 7) % 251)
    await store.put('audit/000002.jsonl.gz', body)
    await store.put('audit/000001.jsonl.gz', new TextEncoder().encode('first'))
    await store.put('other/x', new TextEncoder().encode('x'))
    expect(
      Buffer.from((await store.get('audit/000002.jsonl.gz')) as Uint8Array).equals(Buffer.from(body)),
    ).toBe(true)
    expect(await store.list('audit/')).toEqual(['audit/000001.jsonl.gz', 'audit/000002.jsonl.gz'])
    expect(await store.get('audit/missing')).toBeNull()
    await store.delete('audit/000001.jsonl.gz')
    expect(await store.list('audit/')).toEqual(['audit/000002.jsonl.gz'])
    await store.delete('audit/never-there') // deleting nothing is not an error
  })

  it('refuses keys that could leave its root', async () => {
    const store = (stores[kind] as () => BlobStore)()
    for (const key of ['../escape', '/absolute', 'a/../../b', 'a//b', ''])
      await expect(store.put(key, new Uint8Array(1))).rejects.toThrow(/invalid object key/)
  })
})

describe('object store URLs', () => {
  it('reads s3:// bucket and prefix, file:// and plain paths; refuses other schemes', () => {
    const settings = { region: 'us-east-1', forcePathStyle: false }
    expect(parseBlobUrl('s3://bucket/a/b/', settings)).toEqual({
      kind: 's3',
      bucket: 'bucket',
      prefix: 'a/b',
      s3: settings,
    })
    expect(parseBlobUrl('file:///var/lib/x', settings)).toEqual({ kind: 'directory', path: '/var/lib/x' })
    expect(parseBlobUrl('/var/lib/x', settings)).toEqual({ kind: 'directory', path: '/var/lib/x' })
    expect(() => parseBlobUrl('gs://bucket', settings)).toThrow(/s3:\/\/bucket\/prefix or a directory/)
    expect(() => parseBlobUrl('s3://', settings)).toThrow(/no bucket/)
  })

  it('writes directory objects readable by the service user only, and no temporary files remain', async () => {
    const store = openBlobStore(parseBlobUrl(dir, { region: 'x', forcePathStyle: false }))
    await store.put('mode/check', new Uint8Array([1]))
    expect(statSync(`${dir}/mode/check`).mode & 0o777).toBe(0o600)
    expect(readdirSync(`${dir}/mode`)).toEqual(['check'])
  })
})
