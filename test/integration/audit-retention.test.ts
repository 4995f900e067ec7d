// Retention and archiving against a real S3-compatible server (s3rver) and PostgreSQL: entries
// past the policy move to a compressed, signed bundle that verifies offline; the live chain stays
// verifiable across the gap; nothing else can remove entries; bundles go only when every policy
// allows it; tampering with a bundle or the archive records is caught.
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyBundle } from '../../src/audit/archiver.ts'
import { verifyArchive } from '../../src/audit/cli.ts'
import { type AuditContext, recordAuditEvent } from '../../src/audit/events.ts'
import { verifyConsistency, verifyInclusion } from '../../src/audit/merkle.ts'
import { sealBatch } from '../../src/audit/sealer.ts'
import { loadSigningKey, publicKeys, verifySignature } from '../../src/audit/signing-key.ts'
import { parseBlobUrl } from '../../src/platform/blob/blob-store.ts'
import { openBlobStore } from '../../src/platform/blob/open.ts'
import { canonicalJson } from '../../src/platform/canonical-json.ts'
import { withTransaction } from '../../src/platform/db/database.ts'
import { tempDir } from '../harness/processes.ts'
import { startS3, type TestS3 } from '../harness/s3.ts'
import { startTestApp, type TestApp } from '../support/app.ts'

const token = 'audit-retention-test-admin-token-0123'
let t: TestApp
let s3: TestS3
const ctx: AuditContext = { actor: { type: 'admin_token', id: 'test' }, requestId: 'r-1' }

const call = async (method: string, path: string, body?: unknown) => {
  const res = await t.app.request(path, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: await res.json() }
}
const db = () => t.deps.db.sql
const bucket = () => openBlobStore(parseBlobUrl(`s3://${s3.bucket}/trail`, s3.settings))

/** Writes `count` events created `ageDays` ago and seals them as one batch (one checkpoint). */
async function sealedBatch(count: number, ageDays: number) {
  await withTransaction(db(), async (tx) => {
    for (let i = 0; i < count; i++)
      await recordAuditEvent(tx, ctx, {
        eventType: 'instance.updated',
        resourceType: 'instance',
        resourceId: `i-${i}`,
        action: 'update',
        changes: { port: { old: 5432, new: 5433 + i } },
      })
    await tx`update audit_outbox set event = jsonb_set(event, '{createdAt}',
               to_jsonb(to_char((now() - make_interval(days => ${ageDays})) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))`
  })
  const key = await loadSigningKey(db(), t.deps.keys.keyring())
  const checkpoint = (await sealBatch(db(), key, count)) ?? expect.fail('the batch sealed nothing')
  expect(checkpoint.checkpoint_hash).toMatch(/^[0-9a-f]{64}$/)
}

/** Seals whatever the API calls left in the outbox (their own events). */
async function sealPending() {
  const key = await loadSigningKey(db(), t.deps.keys.keyring())
  while (await sealBatch(db(), key, 1000));
}

const liveRange = async () =>
  (
    await db()<
      { first: number; last: number }[]
    >`select min(id)::float8 as first, max(id)::float8 as last from audit_logs`
  )[0]

beforeAll(async () => {
  s3 = await startS3()
  t = await startTestApp({
    PGA_ADMIN_TOKEN: token,
    PGA_AUDIT_ARCHIVE_URL: `s3://${s3.bucket}/trail`,
    PGA_S3_ENDPOINT: s3.endpoint,
    PGA_S3_ACCESS_KEY_ID: 'S3RVER',
    PGA_S3_SECRET_ACCESS_KEY: 'S3RVER',
    PGA_S3_FORCE_PATH_STYLE: 'true',
    PGA_AUDIT_ARCHIVE_BUNDLE_ENTRIES: '1000',
  })
  // Entries 1-90 from 400 days ago in three batches, 91-150 from today in two.
  for (const [count, age] of [
    [30, 400],
    [30, 400],
    [30, 400],
    [30, 0],
    [30, 0],
  ] as const)
    await sealedBatch(count, age)
})
afterAll(async () => {
  await t?.close()
  await s3?.stop()
})

describe('retention policies', () => {
  it('ship one per framework with deletion disallowed; the strictest applies to the one chain', async () => {
    const res = await call('GET', '/api/v1/audit/retention-policies')
    expect(res.status).toBe(200)
    expect(res.body.items.map((p: { framework: string }) => p.framework)).toEqual([
      'gdpr',
      'hipaa',
      'pci-dss',
      'sox',
    ])
    expect(res.body.items.every((p: { deletionAllowed: boolean }) => !p.deletionAllowed)).toBe(true)
    expect(res.body.effective).toEqual({ archiveAfterDays: 365, retentionDays: 2555, deletionAllowed: false })
    expect(res.body.archiveStore).toBe(`s3://${s3.bucket}/trail`)
  })

  it('refuses a policy that would expire entries before archiving them, and bad input, changing nothing', async () => {
    const before = (await call('GET', '/api/v1/audit/retention-policies')).body.items
    const tooLate = await call('PUT', '/api/v1/audit/retention-policies/hipaa', {
      retentionDays: 30,
      archiveAfterDays: 60,
      deletionAllowed: false,
    })
    expect(tooLate.status).toBe(400)
    expect(tooLate.body.code).toBe('invalid_retention_policy')
    const unknown = await call('PUT', '/api/v1/audit/retention-policies/iso27001', {
      retentionDays: 30,
      archiveAfterDays: null,
      deletionAllowed: false,
    })
    expect(unknown.body.code).toBe('validation_failed')
    const extra = await call('PUT', '/api/v1/audit/retention-policies/sox', {
      retentionDays: 30,
      archiveAfterDays: null,
      deletionAllowed: false,
      deleteNow: true,
    })
    expect(extra.body.code).toBe('validation_failed')
    expect((await call('GET', '/api/v1/audit/retention-policies')).body.items).toEqual(before)
  })
})

describe('archiving', () => {
  it('moves the due range to a compressed bundle with a signed manifest and removes it from the live table', async () => {
    const run = await call('POST', '/api/v1/audit/archives')
    expect(run.status).toBe(200)
    expect(run.body.archived.map((a: { firstId: number; lastId: number }) => [a.firstId, a.lastId])).toEqual([
      [1, 90],
    ])
    const [archive] = run.body.archived
    expect((await liveRange())?.first).toBe(91)

    const store = bucket()
    expect(await store.list('audit/')).toEqual([
      'audit/bundles/000000000001-000000000090.jsonl.gz',
      'audit/bundles/000000000001-000000000090.manifest.json',
    ])
    const bytes = (await store.get(archive.objectKey)) as Uint8Array
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(archive.sha256)
    const lines = gunzipSync(bytes).toString().trim().split('\n')
    expect(lines.filter((l) => l.includes('"type":"entry"'))).toHaveLength(90)
    expect(bytes.length).toBeLessThan(gunzipSync(bytes).length / 3)

    const manifest = JSON.parse(
      Buffer.from(
        (await store.get(archive.objectKey.replace('.jsonl.gz', '.manifest.json'))) as Uint8Array,
      ).toString(),
    )
    const { signature, ...body } = manifest
    expect(body).toMatchObject({ firstId: 1, lastId: 90, entryCount: 90, sha256: archive.sha256 })
    const [key] = await publicKeys(db())
    expect(await verifySignature(key?.publicKeySpki as string, canonicalJson(body), signature)).toBe(true)
    expect(
      await verifySignature(key?.publicKeySpki as string, canonicalJson({ ...body, lastId: 91 }), signature),
    ).toBe(false)

    await sealPending()
    const types = (await db()<{ t: string }[]>`select event_type as t from audit_logs where id > 150`).map(
      (r) => r.t,
    )
    expect(types).toEqual(expect.arrayContaining(['audit.archived', 'audit.archive_run']))
  })

  it('keeps the live chain verifiable across the archived gap, and the bundles on request', async () => {
    const live = await call('POST', '/api/v1/audit/verify', {})
    expect(live.body).toMatchObject({ valid: true, archivedThrough: 90, firstEntry: 91, problem: null })
    const all = await call('POST', '/api/v1/audit/verify', { archives: true })
    expect(all.body).toMatchObject({ valid: true, archives: { checked: 1, problem: null } })
    // A range that starts in the archive is verified from the first live entry.
    expect((await call('POST', '/api/v1/audit/verify', { fromId: 10, toId: 120 })).body).toMatchObject({
      valid: true,
      firstEntry: 91,
    })
  })

  it('proves inclusion of live entries in checkpoints that cover the archived prefix', async () => {
    const res = await call('GET', '/api/v1/audit/logs/100/proof?treeSize=150')
    expect(res.status).toBe(200)
    const { leafIndex, treeSize, leafHash, auditPath, checkpoint } = res.body
    expect(
      verifyInclusion(
        leafIndex,
        treeSize,
        Buffer.from(leafHash, 'hex'),
        auditPath.map((h: string) => Buffer.from(h, 'hex')),
        Buffer.from(checkpoint.root_hash, 'hex'),
      ),
    ).toBe(true)
    const archived = await call('GET', '/api/v1/audit/logs/50/proof')
    expect([archived.status, archived.body.code]).toEqual([404, 'entry_archived'])
    const consistency = await call('GET', '/api/v1/audit/checkpoints/consistency?first=120&second=150')
    expect(consistency.status).toBe(200)
    expect(
      verifyConsistency(
        120,
        150,
        Buffer.from(consistency.body.first.root_hash, 'hex'),
        Buffer.from(consistency.body.second.root_hash, 'hex'),
        consistency.body.proof.map((h: string) => Buffer.from(h, 'hex')),
      ),
    ).toBe(true)
    const tooOld = await call('GET', '/api/v1/audit/checkpoints/consistency?first=30&second=150')
    expect([tooOld.status, tooOld.body.code]).toEqual([409, 'proof_needs_archived_entries'])
  })

  it('a bundle verifies offline against the published key only', async () => {
    const [archive] = (await call('GET', '/api/v1/audit/archives')).body.items
    const dir = tempDir('bundle')
    const file = join(dir, 'bundle.jsonl.gz')
    writeFileSync(file, (await bucket().get(archive.objectKey)) as Uint8Array)
    const pem = join(dir, 'key.pem')
    writeFileSync(pem, (await call('GET', '/api/v1/audit/public-keys')).body.items[0].pem)
    let out = ''
    expect(await verifyArchive({ archive: file, publicKeys: [pem] }, (text) => (out += text))).toBe(0)
    expect(JSON.parse(out)).toMatchObject({ valid: true, checkedEntries: 90, firstEntry: 1, lastEntry: 90 })

    const other = await crypto.subtle.generateKey(
      { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )
    const otherPem = join(dir, 'other.pem')
    writeFileSync(
      otherPem,
      `-----BEGIN PUBLIC KEY-----\n${Buffer.from(await crypto.subtle.exportKey('spki', other.publicKey)).toString('base64')}\n-----END PUBLIC KEY-----\n`,
    )
    out = ''
    expect(await verifyArchive({ archive: file, publicKeys: [otherPem] }, (text) => (out += text))).toBe(1)
    expect(JSON.parse(out).problem.reason).toMatch(/signing key .* is unknown/)
  })

  it('archives nothing more while the rest is not due, and never the chain head', async () => {
    const run = await call('POST', '/api/v1/audit/archives')
    expect(run.body.archived).toEqual([])
    expect((await liveRange())?.first).toBe(91)
  })

  it('nothing but the archiver removes entries: a plain delete, or one naming an old archive record, is refused', async () => {
    await expect(db()`delete from audit_logs where id = 95`).rejects.toMatchObject({ code: 'P0001' })
    await expect(
      withTransaction(db(), async (tx) => {
        await tx`select set_config('pga.audit_archive_id', '1', true)`
        await tx`delete from audit_logs where id = 50`
        await tx`delete from audit_logs where id = 95`
      }),
    ).rejects.toMatchObject({ code: 'P0001' })
    await expect(db()`update audit_logs_archive set last_id = 91`).rejects.toThrow()
    await expect(db()`delete from audit_logs_archive`).rejects.toThrow()
    expect((await liveRange())?.first).toBe(91)
  })

  it('a bundle altered in object storage is named by verification', async () => {
    const [archive] = (await call('GET', '/api/v1/audit/archives')).body.items
    const store = bucket()
    const original = (await store.get(archive.objectKey)) as Uint8Array
    const text = gunzipSync(original).toString().replace('"new":5440', '"new":5441')
    await store.put(archive.objectKey, new Uint8Array(gzipSync(text)))
    const res = await call('POST', '/api/v1/audit/verify', { archives: true })
    expect(res.body.valid).toBe(false)
    expect(res.body.archives.problem).toEqual({
      archiveId: archive.id,
      reason: expect.stringMatching(/was altered \(SHA-256 differs\)/),
    })
    // The altered entry itself is caught even by its bytes alone.
    const keys = (await publicKeys(db())).map((k) => k.publicKeySpki)
    const alone = await verifyBundle(gzipSync(text), keys)
    expect(alone.valid).toBe(false)
    expect(alone.problem?.reason).toMatch(/altered/)
    await store.put(archive.objectKey, original)
    expect((await call('POST', '/api/v1/audit/verify', { archives: true })).body.valid).toBe(true)
  })

  it('bundles are deleted past retention only when every policy allows it', async () => {
    for (const framework of ['gdpr', 'hipaa', 'sox'])
      await call('PUT', `/api/v1/audit/retention-policies/${framework}`, {
        retentionDays: 30,
        archiveAfterDays: 10,
        deletionAllowed: true,
      })
    // PCI-DSS still forbids deletion: the 400-day-old bundle stays.
    await call('PUT', '/api/v1/audit/retention-policies/pci-dss', {
      retentionDays: 30,
      archiveAfterDays: 10,
      deletionAllowed: false,
    })
    expect((await call('POST', '/api/v1/audit/archives')).body.expired).toEqual([])
    expect(await bucket().list('audit/')).toHaveLength(2)

    await call('PUT', '/api/v1/audit/retention-policies/pci-dss', {
      retentionDays: 30,
      archiveAfterDays: 10,
      deletionAllowed: true,
    })
    const run = await call('POST', '/api/v1/audit/archives')
    expect(
      run.body.expired.map((a: { firstId: number; expiredAt: string | null }) => [a.firstId, !!a.expiredAt]),
    ).toEqual([[1, true]])
    expect(await bucket().list('audit/')).toEqual([])
    await sealPending()
    const types = (await db()<{ t: string }[]>`select event_type as t from audit_logs`).map((r) => r.t)
    expect(types).toEqual(expect.arrayContaining(['audit.archive_expired', 'audit.retention_policy_updated']))
    // The live chain still verifies after the expired bundle's range.
    expect((await call('POST', '/api/v1/audit/verify', { archives: true })).body).toMatchObject({
      valid: true,
      archivedThrough: 90,
      archives: { checked: 0, problem: null },
    })
  })

  it('a forged archive record that hides live entries is caught: its bundle is not in object storage', async () => {
    const [checkpoint] = await db()<{ tree_size: number; hash: string }[]>`
      select v.tree_size::float8, l.content_hash as hash from audit_log_verification v
        join audit_logs l on l.id = v.tree_size where v.tree_size = 120`
    await withTransaction(db(), async (tx) => {
      const [forged] = await tx<{ id: number }[]>`
        insert into audit_logs_archive (first_id, last_id, entry_count, first_created_at, last_created_at,
                                        previous_hash, last_content_hash, store, object_key, sha256, size_bytes)
        select 91, 120, 30, now(), now(), (select last_content_hash from audit_logs_archive where last_id = 90),
               ${checkpoint?.hash as string}, 'forged', 'audit/bundles/forged.jsonl.gz', repeat('0', 64), 1
        returning id::float8`
      await tx`select set_config('pga.audit_archive_id', ${String(forged?.id)}, true)`
      await tx`delete from audit_logs where id between 91 and 120`
    })
    const res = await call('POST', '/api/v1/audit/verify', { archives: true })
    expect(res.body.valid).toBe(false)
    expect(res.body.archives.problem.reason).toMatch(/forged.jsonl.gz is missing/)
  })

  it('refuses to archive a trail that does not verify, removing nothing', async () => {
    // Entries 121-150 are backdated behind the triggers' back, as a superuser could: they become
    // due, and the first of them no longer matches its hash.
    await withTransaction(db(), async (tx) => {
      await tx`set local session_replication_role = replica`
      await tx`update audit_logs set created_at = created_at - interval '400 days' where id between 121 and 150`
    })
    const before = await liveRange()
    const run = await call('POST', '/api/v1/audit/archives')
    expect(run.status).toBe(500)
    expect(await liveRange()).toEqual(before)
    expect(t.logs.text()).toMatch(
      /not archiving entries 121-\d+: the trail does not verify \(its content does not match/,
    )
  })
})
