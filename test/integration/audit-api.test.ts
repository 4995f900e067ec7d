// Every mutating route records an audit event in the same transaction as its change (a walk over
// all non-GET operations of the OpenAPI document fails when a route has no event), and the audit
// API searches, reads, verifies and publishes keys, recording its own reads.

import { decodeBase32IgnorePadding } from '@oslojs/encoding'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { checkpointPayload, contentHash } from '../../src/audit/chain.ts'
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.ts'
import { sealBatch } from '../../src/audit/sealer.ts'
import { loadSigningKey, verifySignature } from '../../src/audit/signing-key.ts'
import { prepareFirstAdmin } from '../../src/auth/service.ts'
import { currentStep, totpCode } from '../../src/auth/totp.ts'
import { generateOpenApiDocument } from '../../src/openapi-document.ts'
import { tempDir } from '../harness/processes.ts'
import { type SamlIdp, startSamlIdp } from '../harness/saml-idp.ts'
import { startSlapd, type TestSlapd } from '../harness/slapd.ts'
import { startTcpGate, type TcpGate } from '../harness/tcp-gate.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { ssoFixtures, ssoPublicUrl } from '../support/sso-audit-fixtures.ts'
import { until } from '../support/until.ts'

const token = 'audit-api-test-admin-token-0123456789'
let t: TestApp
let gate: TcpGate
/** What the backup fixtures create. */
const backup = { id: '', scheduleId: '', repositoryId: '', gatedInstanceId: '' }
/** The directory and SAML IdP the SSO fixtures sign in with. */
let sso: { slapd: TestSlapd; idp: SamlIdp }
let instanceId = ''
/** The user the auth fixtures create and sign in. */
const user = { id: '', token: '', session: '', totp: Buffer.alloc(0), backupCodes: [] as string[], keyId: '' }

beforeAll(async () => {
  const [slapd, idp] = await Promise.all([startSlapd(), startSamlIdp('audit-idp')])
  sso = { slapd, idp }
  t = await startTestApp({
    PGA_ADMIN_TOKEN: token,
    PGA_AUDIT_ARCHIVE_URL: tempDir('audit-api-archive'),
    PGA_TRUSTED_PROXIES: '10.0.0.0/8',
    PGA_PUBLIC_URL: ssoPublicUrl,
  })
  // An instance behind a shut gate: a backup of it stays running until cancelled.
  gate = await startTcpGate(Number(new URL(inject('pgUrl')).port))
})
afterAll(async () => {
  await gate?.close()
  await t?.close()
  await sso?.slapd.stop()
})

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  // Every request arrives through a trusted load balancer at 10.0.0.1.
  const res = await t.app.request(
    path,
    {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}`, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    },
    { peerAddress: '10.0.0.1' },
  )
  return { status: res.status, body: res.status === 204 ? null : await res.json() }
}

const pg = () => new URL(inject('pgUrl'))

/** How to exercise each mutating operation, and the event it must leave. */
const fixtures: Record<string, { run: () => Promise<{ status: number; body: unknown }>; event: string }> = {
  'POST /api/v1/instances': {
    run: async () => {
      const res = await call(
        'POST',
        '/api/v1/instances?test=false',
        {
          name: 'audited',
          host: '127.0.0.1',
          port: Number(pg().port),
          username: 'postgres',
          password: 's3cret!',
          sslmode: 'disable',
        },
        { 'User-Agent': 'audit-test', 'X-Forwarded-For': '203.0.113.7, 10.0.0.1' },
      )
      instanceId = (res.body as { id: string }).id
      return res
    },
    event: 'instance.created',
  },
  'PATCH /api/v1/instances/{id}': {
    run: () =>
      call('PATCH', `/api/v1/instances/${instanceId}`, { tags: { env: 'test' }, password: 'n3w-s3cret' }),
    event: 'instance.updated',
  },
  'POST /api/v1/instances/{id}/test-connection': {
    run: () => call('POST', `/api/v1/instances/${instanceId}/test-connection`),
    event: 'instance.connection_tested',
  },
  'POST /api/v1/admin/keys/rotate': {
    run: () => call('POST', '/api/v1/admin/keys/rotate', { reason: 'audit coverage test' }),
    event: 'keys.data_key_rotated',
  },
  'POST /api/v1/audit/verify': {
    run: () => call('POST', '/api/v1/audit/verify', {}),
    event: 'audit.verified',
  },
  'PUT /api/v1/audit/retention-policies/{framework}': {
    run: () =>
      call('PUT', '/api/v1/audit/retention-policies/sox', {
        retentionDays: 3000,
        archiveAfterDays: 400,
        deletionAllowed: false,
      }),
    event: 'audit.retention_policy_updated',
  },
  'POST /api/v1/audit/archives': {
    run: () => call('POST', '/api/v1/audit/archives'),
    event: 'audit.archive_run',
  },
  'POST /api/v1/auth/setup': {
    run: async () => {
      const setup = await prepareFirstAdmin(
        { db: t.deps.db.sql, settings: t.deps.auth.accountSettings },
        {},
        t.deps.log,
      )
      return call('POST', '/api/v1/auth/setup', {
        token: setup?.setupToken,
        email: 'root@example.com',
        password: 'the first admin passphrase',
      })
    },
    event: 'auth.setup_completed',
  },
  'POST /api/v1/users': {
    run: async () => {
      const res = await call('POST', '/api/v1/users', {
        email: 'cov@example.com',
        role: 'operator',
        password: 'coverage passphrase one',
      })
      user.id = res.body.id
      return res
    },
    event: 'user.created',
  },
  'POST /api/v1/auth/login': {
    run: async () => {
      const res = await call('POST', '/api/v1/auth/login', {
        email: 'cov@example.com',
        password: 'coverage passphrase one',
      })
      user.token = res.body.access_token
      user.session = res.body.session_id
      return res
    },
    event: 'auth.login',
  },
  'POST /api/v1/auth/change-password': {
    run: async () => {
      const res = await call(
        'POST',
        '/api/v1/auth/change-password',
        { currentPassword: 'coverage passphrase one', newPassword: 'coverage passphrase two' },
        { Authorization: `Bearer ${user.token}` },
      )
      user.token = res.body.access_token
      return res
    },
    event: 'auth.password_changed',
  },
  'POST /api/v1/auth/mfa/confirm': {
    run: async () => {
      const auth = { Authorization: `Bearer ${user.token}` }
      const enrollment = (await call('POST', '/api/v1/auth/mfa/enroll', undefined, auth)).body
      user.totp = Buffer.from(decodeBase32IgnorePadding(enrollment.secret))
      const res = await call(
        'POST',
        '/api/v1/auth/mfa/confirm',
        { code: totpCode(user.totp, currentStep()) },
        auth,
      )
      user.backupCodes = res.body.backupCodes
      return res
    },
    event: 'auth.mfa_enabled',
  },
  'POST /api/v1/auth/mfa/verify': {
    run: async () => {
      const challenge = (
        await call('POST', '/api/v1/auth/login', {
          email: 'cov@example.com',
          password: 'coverage passphrase two',
        })
      ).body
      return call('POST', '/api/v1/auth/mfa/verify', {
        mfa_token: challenge.mfa_token,
        code: totpCode(user.totp, currentStep() + 1),
      })
    },
    event: 'auth.login',
  },
  'POST /api/v1/auth/mfa/disable': {
    run: () =>
      call(
        'POST',
        '/api/v1/auth/mfa/disable',
        { password: 'coverage passphrase two', backup_code: user.backupCodes[0] },
        { Authorization: `Bearer ${user.token}` },
      ),
    event: 'auth.mfa_disabled',
  },
  'PUT /api/v1/auth/mfa-policy': {
    run: () => call('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: [] }),
    event: 'auth.mfa_policy_updated',
  },
  'POST /api/v1/admin/token-keys/rotate': {
    run: () => call('POST', '/api/v1/admin/token-keys/rotate'),
    event: 'keys.token_signing_key_rotated',
  },
  'POST /api/v1/api-keys': {
    run: async () => {
      const res = await call('POST', '/api/v1/api-keys', { name: 'coverage', role: 'viewer' })
      user.keyId = res.body.id
      return res
    },
    event: 'api_key.created',
  },
  'DELETE /api/v1/api-keys/{id}': {
    run: () => call('DELETE', `/api/v1/api-keys/${user.keyId}`),
    event: 'api_key.revoked',
  },
  'POST /api/v1/auth/logout': {
    run: () => call('POST', '/api/v1/auth/logout', undefined, { Authorization: `Bearer ${user.token}` }),
    event: 'auth.logout',
  },
  'PATCH /api/v1/users/{id}': {
    run: () => call('PATCH', `/api/v1/users/${user.id}`, { displayName: 'Coverage' }),
    event: 'user.updated',
  },
  'POST /api/v1/users/{id}/reset-password': {
    run: () =>
      call('POST', `/api/v1/users/${user.id}/reset-password`, { password: 'coverage passphrase three' }),
    event: 'user.password_reset',
  },
  'DELETE /api/v1/auth/sessions/{id}': {
    run: async () => {
      const session = (
        await call('POST', '/api/v1/auth/login', {
          email: 'cov@example.com',
          password: 'coverage passphrase three',
        })
      ).body
      return call('DELETE', `/api/v1/auth/sessions/${session.session_id}`, undefined, {
        Authorization: `Bearer ${session.access_token}`,
      })
    },
    event: 'auth.session_ended',
  },
  'DELETE /api/v1/users/{id}/sessions': {
    run: () => call('DELETE', `/api/v1/users/${user.id}/sessions`),
    event: 'auth.sessions_ended',
  },
  'POST /api/v1/backups/trigger': {
    run: async () => {
      const database = new URL(
        t.deps.config.store.kind === 'postgres' ? t.deps.config.store.url : '',
      ).pathname.slice(1)
      const res = await call('POST', '/api/v1/backups/trigger', {
        instanceId,
        type: 'logical',
        database,
        compression: 'gzip',
      })
      backup.id = res.body.id
      const settled = await until(
        'the logical backup to finish',
        async () => {
          const { body } = await call('GET', `/api/v1/backups/${backup.id}`)
          return body.status !== 'pending' && body.status !== 'running' && body
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      )
      expect(settled.status, JSON.stringify(settled)).toBe('completed')
      return res
    },
    event: 'backup.requested',
  },
  'POST /api/v1/backups/{backupId}/verify': {
    run: () => call('POST', `/api/v1/backups/${backup.id}/verify?wait=true`),
    event: 'backup.verified',
  },
  'POST /api/v1/backups/{backupId}/restore': {
    run: () =>
      call('POST', `/api/v1/backups/${backup.id}/restore`, {
        mode: 'database',
        targetDatabase: `cov_${Date.now()}`,
      }),
    event: 'backup.restore_requested',
  },
  'POST /api/v1/backups/{backupId}/cancel': {
    run: async () => {
      const gated = await call('POST', '/api/v1/instances?test=false', {
        name: 'gated',
        host: '127.0.0.1',
        port: gate.port,
        username: 'postgres',
        sslmode: 'disable',
        walStreaming: false,
      })
      backup.gatedInstanceId = gated.body.id
      const running = await call('POST', '/api/v1/backups/trigger', {
        instanceId: gated.body.id,
        type: 'full',
      })
      return call('POST', `/api/v1/backups/${running.body.id}/cancel`)
    },
    event: 'backup.cancel_requested',
  },
  'POST /api/v1/backup-schedules': {
    run: async () => {
      const res = await call('POST', '/api/v1/backup-schedules', {
        name: 'nightly',
        instanceId,
        backupType: 'full',
        cronExpression: '0 2 * * *',
        timeZone: 'Europe/Berlin',
      })
      backup.scheduleId = res.body.id
      return res
    },
    event: 'backup.schedule_created',
  },
  'PUT /api/v1/backup-schedules/{scheduleId}': {
    run: () =>
      call('PUT', `/api/v1/backup-schedules/${backup.scheduleId}`, {
        name: 'nightly',
        instanceId,
        backupType: 'full',
        cronExpression: '30 3 * * *',
        timeZone: 'UTC',
        retentionFullCount: 7,
      }),
    event: 'backup.schedule_updated',
  },
  'DELETE /api/v1/backup-schedules/{scheduleId}': {
    run: () => call('DELETE', `/api/v1/backup-schedules/${backup.scheduleId}`),
    event: 'backup.schedule_deleted',
  },
  'POST /api/v1/backup-repositories': {
    run: async () => {
      const res = await call('POST', '/api/v1/backup-repositories', {
        name: 'second',
        url: tempDir('second-repo'),
      })
      backup.repositoryId = res.body.id
      return res
    },
    event: 'backup.repository_created',
  },
  'DELETE /api/v1/backup-repositories/{repositoryId}': {
    run: () => call('DELETE', `/api/v1/backup-repositories/${backup.repositoryId}`),
    event: 'backup.repository_deleted',
  },
  'DELETE /api/v1/instances/{id}': {
    run: () => call('DELETE', `/api/v1/instances/${instanceId}`),
    event: 'instance.deleted',
  },
  ...ssoFixtures(
    () => t,
    call,
    '10.0.0.1',
    () => sso,
  ),
}
/** Non-GET operations that change nothing, and why they record no event. */
const exempt: Record<string, string> = {
  'POST /api/v1/config/check': 'validates a proposed environment; stores and changes nothing',
  'POST /api/v1/auth/mfa/enroll':
    'stores nothing durable until POST /api/v1/auth/mfa/confirm, which is audited',
  'POST /api/v1/auth/refresh':
    'rotates the refresh token of a session whose start and end are events; a reused token is an event (auth.test.ts)',
  'POST /api/v1/agent/metrics':
    'host-metric ingestion (data, every 15 s per host): the agent key’s creation and revocation are events, a push for another instance is auth.access_denied (agent.test.ts); docs/AGENT.md',
}

const outboxTypes = async () =>
  (
    await t.deps.db.sql<{ type: string }[]>`select event->>'eventType' as type from audit_outbox order by id`
  ).map((r) => r.type)

describe('audit coverage', () => {
  it('every mutating route records its event, in the same transaction as its change', async () => {
    const document = generateOpenApiDocument() as unknown as {
      paths: Record<string, Record<string, unknown>>
    }
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods)
        .filter((m) => ['post', 'put', 'patch', 'delete'].includes(m))
        .map((m) => `${m.toUpperCase()} ${path}`),
    )
    const uncovered = operations.filter((op) => !(op in fixtures) && !(op in exempt))
    expect(uncovered, 'add a fixture (or a reasoned exemption) for every new mutating route').toEqual([])
    for (const op of Object.keys(fixtures)) expect(operations).toContain(op)

    for (const [op, fixture] of Object.entries(fixtures)) {
      const before = (await outboxTypes()).length
      const res = await fixture.run()
      // A sign-in that ends in a redirect (the SAML ACS) succeeded too.
      expect(res.status, `${op}: ${JSON.stringify(res.body)}`).toBeLessThan(400)
      const after = await outboxTypes()
      expect(after.slice(before), op).toContain(fixture.event)
    }
  })

  it('every operation behind the admin token refuses a request without it', async () => {
    const document = generateOpenApiDocument() as unknown as {
      paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>
    }
    const guarded = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => op.security?.some((s) => 'bearer' in s))
        .map(([method]) => ({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x') })),
    )
    expect(guarded.length).toBeGreaterThan(20)
    for (const { method, path } of guarded) {
      const res = await t.app.request(path, {
        method,
        headers: { 'Content-Type': 'application/json' },
        ...(method === 'GET' ? {} : { body: '{}' }),
      })
      expect(res.status, `${method} ${path}`).toBe(401)
    }
  })

  it('a change that fails records no event (a duplicate name is refused with nothing written)', async () => {
    const first = await call('POST', '/api/v1/instances?test=false', {
      name: 'dup',
      host: 'h',
      username: 'u',
    })
    expect(first.status).toBe(201)
    const before = (await outboxTypes()).length
    const second = await call('POST', '/api/v1/instances?test=false', {
      name: 'dup',
      host: 'h',
      username: 'u',
    })
    expect(second.status).toBe(409)
    expect((await outboxTypes()).length).toBe(before)
  })
})

describe('audit API', () => {
  beforeAll(async () => {
    const key = await loadSigningKey(t.deps.db.sql, t.deps.keys.keyring())
    while (await sealBatch(t.deps.db.sql, key, 1000)) {}
  })

  it('searches newest first with filters and a cursor, without secrets, with who and from where', async () => {
    const page = await call('GET', '/api/v1/audit/logs?resourceType=instance&limit=2')
    expect(page.status).toBe(200)
    expect(page.body.items).toHaveLength(2)
    expect(page.body.items[0].id).toBeGreaterThan(page.body.items[1].id)
    const next = await call(
      'GET',
      `/api/v1/audit/logs?resourceType=instance&limit=100&cursor=${page.body.nextCursor}`,
    )
    expect(next.body.items[0].id).toBeLessThan(page.body.items[1].id)
    const created = await call('GET', '/api/v1/audit/logs?eventType=instance.created&limit=100')
    const ours = created.body.items.find((e: { resourceId: string }) => e.resourceId === instanceId)
    expect(ours).toMatchObject({
      actorType: 'admin_token',
      actorId: 'admin',
      ipAddress: '203.0.113.7',
      userAgent: 'audit-test',
      action: 'create',
      outcome: 'success',
    })
    expect(JSON.stringify(created.body)).not.toContain('s3cret')
    const updated = await call(
      'GET',
      `/api/v1/audit/logs?eventType=instance.updated&resourceId=${instanceId}`,
    )
    expect(updated.body.items[0].changes).toMatchObject({ tags: true, password: '[redacted]' })
    expect(updated.body.items[0].newValues.tags).toEqual({ env: 'test' })
    expect(JSON.stringify(updated.body)).not.toContain('n3w-s3cret')
    const one = await call('GET', `/api/v1/audit/logs/${ours.id}`)
    expect(one.body).toMatchObject({ id: ours.id, eventType: 'instance.created' })
    const activity = await call('GET', '/api/v1/audit/activity/users/admin?limit=500')
    expect(activity.body.items.length).toBeGreaterThanOrEqual(6)
  })

  it('records reading the trail as an event itself', async () => {
    const before = (await outboxTypes()).filter((type) => type === 'audit.read').length
    await call('GET', '/api/v1/audit/logs?limit=1')
    expect((await outboxTypes()).filter((type) => type === 'audit.read').length).toBe(before + 1)
  })

  it('verifies the trail and publishes the signing key', async () => {
    // No body at all: the whole trail.
    const whole = await t.app.request('/api/v1/audit/verify', {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
    })
    const verdict = await whole.json()
    expect(verdict).toMatchObject({ valid: true, problem: null })
    expect(verdict.checkedEntries).toBeGreaterThan(6)
    const range = await call('POST', '/api/v1/audit/verify', { fromId: 2, toId: 3 })
    expect(range.body.valid).toBe(true)
    const keys = await t.app.request('/api/v1/audit/public-keys')
    expect(keys.status).toBe(200)
    const [key] = (await keys.json()).items
    expect(key.pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/)
  })

  it('proves one entry is in a signed checkpoint, checkable with nothing but the public key', async () => {
    const keys = (await (await t.app.request('/api/v1/audit/public-keys')).json()).items
    const res = await call('GET', '/api/v1/audit/logs/3/proof')
    expect(res.status).toBe(200)
    const { entry, leafHash: leaf, auditPath, checkpoint, leafIndex, treeSize } = res.body
    // What an outside verifier does: hash the entry, walk the path, check the signed root.
    const { content_hash, ...hashed } = entry
    expect(contentHash(hashed)).toBe(content_hash)
    expect(leafHash(Buffer.from(content_hash, 'hex')).toString('hex')).toBe(leaf)
    const path = auditPath.map((h: string) => Buffer.from(h, 'hex'))
    expect(path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(treeSize)))
    expect(
      verifyInclusion(
        leafIndex,
        treeSize,
        Buffer.from(leaf, 'hex'),
        path,
        Buffer.from(checkpoint.root_hash, 'hex'),
      ),
    ).toBe(true)
    const { signature, checkpoint_hash, ...body } = checkpoint
    const key = keys.find((k: { keyId: string }) => k.keyId === checkpoint.key_id)
    expect(await verifySignature(key.publicKeySpki, checkpointPayload(body), signature)).toBe(true)
    // A different entry does not verify against this path.
    expect(
      verifyInclusion(
        leafIndex + 1,
        treeSize,
        Buffer.from(leaf, 'hex'),
        path,
        Buffer.from(checkpoint.root_hash, 'hex'),
      ),
    ).toBe(false)
    expect((await call('GET', '/api/v1/audit/logs/3/proof?treeSize=999999')).body.code).toBe(
      'checkpoint_not_found',
    )
  })

  it('proves an older checkpoint is a prefix of a newer one (RFC 9162 consistency)', async () => {
    // Two more sealed batches give two checkpoints to compare.
    await call('POST', '/api/v1/audit/verify', {})
    const key = await loadSigningKey(t.deps.db.sql, t.deps.keys.keyring())
    while (await sealBatch(t.deps.db.sql, key, 1000)) {}
    const list = await (await t.app.request('/api/v1/audit/checkpoints?limit=10')).json()
    expect(list.items.length).toBeGreaterThanOrEqual(2)
    const [newer, older] = list.items
    const res = await call(
      'GET',
      `/api/v1/audit/checkpoints/consistency?first=${older.tree_size}&second=${newer.tree_size}`,
    )
    expect(res.status).toBe(200)
    const proof = res.body.proof.map((h: string) => Buffer.from(h, 'hex'))
    const roots = [older.root_hash, newer.root_hash].map((h: string) => Buffer.from(h, 'hex')) as [
      Buffer,
      Buffer,
    ]
    expect(verifyConsistency(older.tree_size, newer.tree_size, roots[0], roots[1], proof)).toBe(true)
    expect(verifyConsistency(older.tree_size, newer.tree_size, roots[1], roots[1], proof)).toBe(false)
    const reversed = await call(
      'GET',
      `/api/v1/audit/checkpoints/consistency?first=${newer.tree_size}&second=${older.tree_size}`,
    )
    expect(reversed.body.code).toBe('validation_failed')
  })

  it('produces compliance reports with the verification of their range, as JSON and CSV', async () => {
    const key = await loadSigningKey(t.deps.db.sql, t.deps.keys.keyring())
    while (await sealBatch(t.deps.db.sql, key, 1000)) {}
    const from = new Date(Date.now() - 3_600_000).toISOString()
    const to = new Date(Date.now() + 60_000).toISOString()
    const sox = await call('GET', `/api/v1/audit/reports/sox?from=${from}&to=${to}`)
    expect(sox.status).toBe(200)
    expect(sox.body.verification).toMatchObject({ valid: true })
    const changes = sox.body.sections[0].events.map((e: { eventType: string }) => e.eventType)
    expect(changes).toEqual(
      expect.arrayContaining([
        'instance.created',
        'instance.updated',
        'instance.deleted',
        'keys.data_key_rotated',
      ]),
    )
    expect(changes).not.toContain('audit.read')
    const pci = await call('GET', `/api/v1/audit/reports/pci-dss?from=${from}&to=${to}`)
    const auditAccess = pci.body.sections.find((s: { control: string }) => s.control.startsWith('10.2.1.3'))
    expect(auditAccess.count).toBeGreaterThan(0)
    const gdpr = await call('GET', `/api/v1/audit/reports/gdpr?from=${from}&to=${to}&userId=admin`)
    expect(gdpr.body.sections[0].count).toBeGreaterThan(5)
    expect((await call('GET', `/api/v1/audit/reports/gdpr?from=${from}&to=${to}`)).body.code).toBe(
      'user_required',
    )
    expect((await call('GET', `/api/v1/audit/reports/iso?from=${from}&to=${to}`)).body.code).toBe(
      'validation_failed',
    )
    const csv = await t.app.request(`/api/v1/audit/reports/sox?from=${from}&to=${to}&format=csv`, {
      headers: { Authorization: `Bearer ${token}` },
    })
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/)
    const rows = (await csv.text()).trim().split('\r\n')
    expect(rows[0]).toMatch(/^# framework=sox .* verified=true$/)
    expect(rows[1]).toBe(
      'control,id,createdAt,eventType,action,outcome,actorType,actorId,resourceType,resourceId,ipAddress,requestId',
    )
    expect(rows.length).toBe(2 + sox.body.sections[0].count)
  })

  it('rejects bad input and unknown entries clearly', async () => {
    expect((await call('GET', '/api/v1/audit/logs/999999')).body.code).toBe('not_found')
    expect((await call('GET', '/api/v1/audit/logs?limit=0')).body.code).toBe('validation_failed')
    expect((await call('GET', '/api/v1/audit/logs?from=yesterday')).body.code).toBe('validation_failed')
    expect((await call('POST', '/api/v1/audit/verify', { fromId: 5, toId: 2 })).body.code).toBe(
      'validation_failed',
    )
    expect(
      (await call('GET', '/api/v1/audit/logs', undefined, { Authorization: 'Bearer nope' })).status,
    ).toBe(401)
  })
})
