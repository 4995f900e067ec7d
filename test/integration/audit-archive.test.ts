// The audit CLI: export the store's trail as an archive and verify it offline with nothing but a
// trusted public key; a tampered archive or an untrusted key fails with exit 1 naming the problem.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { recordAuditEvent } from '../../src/audit/events.ts'
import { sealBatch } from '../../src/audit/sealer.ts'
import { loadSigningKey } from '../../src/audit/signing-key.ts'
import { runCli } from '../../src/cli.ts'
import { nodeRuntime } from '../../src/runtime/node.ts'
import { tempDir } from '../harness/processes.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { testMasterKey } from '../support/master-key.ts'

let t: TestApp
let databaseUrl: string
const dir = tempDir('audit-archive')

beforeAll(async () => {
  t = await startTestApp()
  databaseUrl = t.deps.config.store.kind === 'postgres' ? t.deps.config.store.url : ''
  const key = await loadSigningKey(t.deps.db.sql, t.deps.keys.keyring())
  for (let i = 0; i < 30; i++) {
    await recordAuditEvent(
      t.deps.db.sql,
      { actor: { type: 'system', id: 'test' } },
      {
        eventType: 'test.archived',
        resourceType: 'test',
        resourceId: String(i),
        action: 'execute',
      },
    )
    if (i % 10 === 9) await sealBatch(t.deps.db.sql, key, 100)
  }
  const [pub] = await t.deps.db.sql<
    { spki: string }[]
  >`select public_key_spki as spki from audit_signing_keys`
  writeFileSync(
    join(dir, 'trusted.pem'),
    `-----BEGIN PUBLIC KEY-----\n${pub?.spki}\n-----END PUBLIC KEY-----\n`,
  )
})
afterAll(async () => {
  await t?.close()
})

async function cli(args: string[], env: Record<string, string> = {}) {
  let out = ''
  let err = ''
  const code = await runCli(args, nodeRuntime, {
    env: { DATABASE_URL: databaseUrl, PGA_MASTER_KEY: testMasterKey, PGA_LOG_LEVEL: 'error', ...env },
    out: (text) => {
      out += text
    },
    err: (text) => {
      err += text
    },
  })
  return { code, out, err }
}

describe('pganalytics audit', () => {
  const archive = join(dir, 'trail.jsonl.gz')

  it('verifies the store and exports it; the archive verifies offline with the trusted key', async () => {
    const store = await cli(['audit', 'verify'])
    expect(store.code).toBe(0)
    expect(JSON.parse(store.out)).toMatchObject({ valid: true, checkedEntries: 30, checkedCheckpoints: 3 })
    const exported = await cli(['audit', 'export', '--output', archive])
    expect(exported.code, exported.err).toBe(0)
    expect(JSON.parse(exported.out)).toMatchObject({ entries: 30, checkpoints: 3 })
    // Offline: no DATABASE_URL, no master key.
    const offline = await cli(
      ['audit', 'verify', '--archive', archive, '--public-key', join(dir, 'trusted.pem')],
      {
        DATABASE_URL: '',
        PGA_MASTER_KEY: '',
      },
    )
    expect(offline.code, offline.err).toBe(0)
    expect(JSON.parse(offline.out)).toMatchObject({ valid: true, checkedEntries: 30 })
  })

  it('fails on an edited archive, naming the entry, and on a key it was not told to trust', async () => {
    const lines = gunzipSync(readFileSync(archive)).toString().split('\n')
    const index = lines.findIndex((l) => l.includes('"type":"entry"') && l.includes('"id":17,'))
    lines[index] = (lines[index] as string).replace('"resource_id":"16"', '"resource_id":"forged"')
    const edited = join(dir, 'edited.jsonl.gz')
    writeFileSync(edited, gzipSync(lines.join('\n')))
    const tampered = await cli([
      'audit',
      'verify',
      '--archive',
      edited,
      '--public-key',
      join(dir, 'trusted.pem'),
    ])
    expect(tampered.code).toBe(1)
    expect(JSON.parse(tampered.out).problem).toMatchObject({ entryId: 17 })

    const other = await crypto.subtle.generateKey(
      { name: 'RSA-PSS', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      true,
      ['sign', 'verify'],
    )
    const spki = Buffer.from(await crypto.subtle.exportKey('spki', other.publicKey)).toString('base64')
    writeFileSync(join(dir, 'other.pem'), spki)
    const untrusted = await cli([
      'audit',
      'verify',
      '--archive',
      archive,
      '--public-key',
      join(dir, 'other.pem'),
    ])
    expect(untrusted.code).toBe(1)
    expect(JSON.parse(untrusted.out).problem.reason).toMatch(/signing key .* is unknown/)
  })

  it('refuses an archive without a key to trust, and export without --output (exit 2)', async () => {
    expect((await cli(['audit', 'verify', '--archive', archive])).code).toBe(2)
    expect((await cli(['audit', 'export'])).code).toBe(2)
    expect((await cli(['audit', 'nope'])).code).toBe(2)
  })
})
