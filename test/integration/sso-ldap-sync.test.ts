// Directory sync against a real OpenLDAP: roles follow group changes, users removed from the
// directory (or no longer mapped under strict mapping) are disabled and signed out; and the
// safety net: a directory that is down, a size limit, or a listing that finds too few of the
// known users changes nothing and reports instead. Scheduling (due providers only) and the lease.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../harness/processes.ts'
import { directory, startSlapd, type TestSlapd } from '../harness/slapd.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { adminToken, client, events, lastEventId } from '../support/sso.ts'

let t: TestApp
let slapd: TestSlapd
const http = client(() => t)
const people = ['alice', 'bob', 'carol', 'grace', 'heidi', 'oscar'] as const
const sessions: Record<string, string> = {}

const settings = () => ({
  url: slapd.ldapsUrl,
  caCert: slapd.caPem,
  bindDn: directory.serviceDn,
  bindPassword: directory.servicePassword,
  userBaseDn: directory.peopleDn,
  userFilter: '(&(objectClass=inetOrgPerson)(uid={username}))',
  groupBaseDn: directory.groupsDn,
  groupFilter: '(member={dn})',
  nestedGroups: 'walk',
})
const sync = async (name = 'dir') => {
  const res = await http.admin('POST', `/api/v1/identity-providers/${name}/sync`)
  expect(res.status, res.text).toBe(200)
  return res.body
}
const usersOf = async () =>
  Object.fromEntries(
    (
      await t.deps.db.sql<{ email: string; role: string; disabled: boolean }[]>`
        select email, role, disabled_at is not null as disabled from auth_users where identity_provider = 'dir'`
    ).map((u) => [u.email.split('@')[0], { role: u.role, disabled: u.disabled }]),
  )

beforeAll(async () => {
  ;[slapd, t] = await Promise.all([
    startSlapd(),
    startTestApp({ PGA_ADMIN_TOKEN: adminToken, PGA_AUTH_RATE_PER_ADDRESS: '10000' }),
  ])
  const created = await http.admin('POST', '/api/v1/identity-providers', {
    type: 'ldap',
    name: 'dir',
    settings: settings(),
    roleMapping: [
      { group: directory.group('pga-admins'), role: 'admin' },
      { group: directory.group('pga-operators'), role: 'operator' },
      { group: directory.group('pga-auditors'), role: 'auditor' },
      { group: directory.group('pga-viewers'), role: 'viewer' },
    ],
    strict: true,
    sync: { enabled: true, intervalMinutes: 5, minReturnedPercent: 60 },
  })
  expect(created.status, created.text).toBe(201)
  for (const uid of people) {
    const res = await http.send('POST', '/api/v1/auth/ldap/dir/login', {
      username: uid,
      password: directory.password(uid),
    })
    expect(res.status, res.text).toBe(200)
    sessions[uid] = res.body.access_token
  }
})
afterAll(async () => {
  await t?.close()
  await slapd?.stop()
})

describe('directory sync', () => {
  it('changes nothing when the directory agrees', async () => {
    const report = await sync()
    expect(report).toMatchObject({ status: 'ok', known: 6, updated: 0, disabled: 0 })
    expect(report.returned).toBeGreaterThanOrEqual(6)
  })

  it('a directory that is down, a size limit, or too few known users found: nothing changes, a report says why', async () => {
    const before = await usersOf()
    const since = await lastEventId(t)
    const attempts: [Record<string, unknown>, string, RegExp][] = [
      [
        { url: `ldap://127.0.0.1:${await freePort()}`, allowPlaintext: true, caCert: null },
        'failed',
        /ECONNREFUSED/,
      ],
      [{ bindDn: directory.limitedServiceDn }, 'failed', /size limit/],
      [
        { userFilter: '(&(objectClass=inetOrgPerson)(uid={username})(cn=Alice*))' },
        'unsafe',
        /found 1 of 6 known users/,
      ],
    ]
    for (const [change, status, detail] of attempts) {
      expect((await http.admin('PATCH', '/api/v1/identity-providers/dir', { settings: change })).status).toBe(
        200,
      )
      const report = await sync()
      expect(report.status, JSON.stringify(report)).toBe(status)
      expect(report.detail).toMatch(detail)
      expect(report).toMatchObject({ updated: 0, disabled: 0 })
      await http.admin('PATCH', '/api/v1/identity-providers/dir', { settings: settings() })
    }
    expect(await usersOf()).toEqual(before)
    const audited = await events(t, { since, type: 'identity_provider.synced' })
    expect(audited.map((e) => e.outcome)).toEqual(['failure', 'failure', 'failure'])
    expect((await events(t, { since, type: 'user.disabled' })).length).toBe(0)
    const shown = await http.admin('GET', '/api/v1/identity-providers/dir')
    expect(shown.body.lastSync).toMatchObject({ status: 'unsafe' })
  })

  it('follows the directory: new roles, users removed or no longer mapped are disabled and signed out', async () => {
    await slapd.modify(
      [
        `dn: ${directory.group('pga-admins')}\nchangetype: modify\nadd: member\nmember: ${directory.person('bob')}\n`,
        `dn: ${directory.group('pga-viewers')}\nchangetype: modify\ndelete: member\nmember: ${directory.person('carol')}\n`,
        `dn: ${directory.person('oscar')}\nchangetype: delete\n`,
      ].join('\n'),
    )
    const since = await lastEventId(t)
    const report = await sync()
    expect(report).toMatchObject({ status: 'ok', known: 6, updated: 1, disabled: 2 })
    const users = await usersOf()
    expect(users).toMatchObject({
      bob: { role: 'admin', disabled: false },
      carol: { disabled: true },
      oscar: { disabled: true },
      alice: { role: 'admin', disabled: false },
    })
    const reasons = (await events(t, { since, type: 'user.disabled' })).map((e) => e.changes.reason).sort()
    expect(reasons).toEqual(['no role mapping rule matches', 'removed from the directory'])
    for (const uid of ['carol', 'oscar'])
      expect((await http.as(sessions[uid] as string)('GET', '/api/v1/auth/me')).status, uid).toBe(401)
    expect((await http.as(sessions.alice as string)('GET', '/api/v1/auth/me')).status).toBe(200)
    // A user disabled here cannot sign in through the directory, and the sync does not re-enable.
    const [heidi] = await t.deps.db.sql<
      { id: string }[]
    >`select id::text from auth_users where email = 'heidi@example.org'`
    await http.admin('PATCH', `/api/v1/users/${heidi?.id}`, { disabled: true })
    const refused = await http.send('POST', '/api/v1/auth/ldap/dir/login', {
      username: 'heidi',
      password: directory.password('heidi'),
    })
    expect([refused.status, refused.body.code]).toEqual([401, 'invalid_credentials'])
    await sync()
    expect((await usersOf()).heidi).toMatchObject({ disabled: true })
  })

  it('runs only due providers on schedule, one replica at a time (lease)', async () => {
    // dir synced a moment ago: not due. dir-new never synced: due.
    const created = await http.admin('POST', '/api/v1/identity-providers', {
      type: 'ldap',
      name: 'dir-new',
      settings: settings(),
      sync: { enabled: true, intervalMinutes: 5, minReturnedPercent: 60 },
    })
    expect(created.status).toBe(201)
    const reports = await t.deps.auth.ssoSync.runDue()
    expect(Object.keys(reports)).toEqual(['dir-new'])
    expect(Object.keys(await t.deps.auth.ssoSync.runDue())).toEqual([])
    const lease = await t.deps.state.acquireLease('sso-sync:dir', 'another-replica', 60_000)
    const busy = await http.admin('POST', '/api/v1/identity-providers/dir/sync')
    expect([busy.status, busy.body.code]).toEqual([409, 'sync_in_progress'])
    if (lease) await t.deps.state.releaseLease(lease)
    expect((await http.admin('POST', '/api/v1/identity-providers/nope/sync')).body.code).toBe(
      'identity_provider_not_found',
    )
  })
})
