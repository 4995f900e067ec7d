// A throwaway OpenLDAP server (Debian `slapd`) for the LDAP sign-in tests: its own slapd.conf
// and mdb database in a temp directory, ldap:// (StartTLS offered) and ldaps:// on free loopback
// ports with a throwaway CA, the memberof overlay, realistic ACLs (no anonymous reads; a service
// account that may search; users bind), and a directory of test users and nested groups in two
// shapes: OpenLDAP style (inetOrgPerson, groupOfNames) and Active Directory style (AD's own
// attribute definitions: user/group, sAMAccountName, userPrincipalName, objectGUID,
// userAccountControl, memberOf). Stopped by the PID in its pidfile.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeCertificates } from './certificates.ts'
import { freePort, run, tempDir, waitForPort } from './processes.ts'

export const baseDn = 'dc=example,dc=org'
export const directory = {
  adminDn: `cn=admin,${baseDn}`,
  adminPassword: 'directory-admin-secret',
  serviceDn: `cn=pga-reader,ou=services,${baseDn}`,
  servicePassword: 'reader secret with spaces',
  /** A service account the server answers at most 3 entries per search (size limit). */
  limitedServiceDn: `cn=pga-limited,ou=services,${baseDn}`,
  peopleDn: `ou=people,${baseDn}`,
  groupsDn: `ou=groups,${baseDn}`,
  adDn: `ou=ad,${baseDn}`,
  /** Every test user's password: `<uid>-password`. */
  password: (uid: string) => `${uid}-password`,
  group: (cn: string) => `cn=${cn},ou=groups,${baseDn}`,
  adGroup: (cn: string) => `cn=${cn},ou=ad,${baseDn}`,
  person: (uid: string) => `uid=${uid},ou=people,${baseDn}`,
}

const sbin = (name: string) => (existsSync(`/usr/sbin/${name}`) ? `/usr/sbin/${name}` : name)

export type TestSlapd = {
  /** ldap://127.0.0.1:port (plain; StartTLS available). */
  url: string
  /** ldaps://127.0.0.1:port (TLS from the first byte). */
  ldapsUrl: string
  port: number
  /** PEM of the CA that signed the server certificate. */
  caPem: string
  /** PEM of a CA that did not (verification must fail). */
  otherCaPem: string
  /** Applies LDIF changes as the directory administrator (ldapmodify). */
  modify(ldif: string): Promise<void>
  /** Adds entries (ldapadd -c). */
  add(ldif: string): Promise<void>
  /** Adds a person (password `<uid>-password`, mail `<uid>@example.org`) as a member of groups. */
  addPerson(uid: string, groups: string[]): Promise<void>
  stop(): Promise<void>
}

function slapdConf(dir: string, tls: { ca: string; cert: string; key: string }): string {
  return [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    `include ${join(dir, 'active-directory.schema')}`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload memberof',
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    `TLSCACertificateFile ${tls.ca}`,
    `TLSCertificateFile ${tls.cert}`,
    `TLSCertificateKeyFile ${tls.key}`,
    // Like Active Directory: a bind with a DN and an empty password "succeeds", anonymously.
    'allow bind_anon_dn',
    'database mdb',
    `suffix "${baseDn}"`,
    `rootdn "${directory.adminDn}"`,
    `rootpw ${directory.adminPassword}`,
    `directory ${join(dir, 'db')}`,
    'maxsize 33554432',
    `limits dn.exact="${directory.limitedServiceDn}" size=3 size.pr=noEstimate size.prtotal=3`,
    'overlay memberof',
    'memberof-group-oc groupOfNames',
    'memberof-member-ad member',
    'memberof-memberof-ad memberOf',
    'access to attrs=userPassword by self write by anonymous auth by * none',
    'access to * by users read by * none',
    '',
  ].join('\n')
}

const b64 = (bytes: Buffer) => bytes.toString('base64')
/** objectGUID of an AD-style test user: 16 bytes, as AD stores it. */
export const adGuid = (n: number) =>
  Buffer.from(`0f1e2d3c4b5a69788796a5b4c3d2e1${n.toString(16).padStart(2, '0')}`, 'hex')

function person(uid: string, cn: string, mail: string | null): string {
  return [
    `dn: ${directory.person(uid)}`,
    'objectClass: inetOrgPerson',
    `uid: ${uid}`,
    `cn: ${cn}`,
    `sn: ${cn.split(' ').pop()}`,
    `displayName: ${cn}`,
    ...(mail ? [`mail: ${mail}`] : []),
    `userPassword: ${directory.password(uid)}`,
    '',
  ].join('\n')
}

function groupOfNames(cn: string, members: string[]): string {
  return [`dn: ${directory.group(cn)}`, 'objectClass: groupOfNames', `cn: ${cn}`]
    .concat(members.map((m) => `member: ${m}`))
    .concat([''])
    .join('\n')
}

// The part of Active Directory's schema the sign-in uses, with AD's OIDs and matching rules
// (Debian's msuser.schema has no equality rules for sAMAccountName and friends, so filters on them
// never match). memberOf comes from the memberof overlay's definition.
const activeDirectorySchema = `
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch
  SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID' EQUALITY octetStringMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL
  MAY ( sAMAccountName $ userPrincipalName $ objectGUID $ userAccountControl $ mail $ displayName ) )
objectclass ( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL
  MUST cn MAY ( member $ sAMAccountName $ objectGUID ) )
`

function adUser(sam: string, n: number, options: { disabled?: boolean; memberOf: string[] }): string {
  return [
    `dn: cn=${sam},${directory.adDn}`,
    'objectClass: top',
    'objectClass: person',
    'objectClass: organizationalPerson',
    'objectClass: user',
    `cn: ${sam}`,
    `sn: ${sam}`,
    `sAMAccountName: ${sam}`,
    `userPrincipalName: ${sam}@corp.example.org`,
    `displayName: AD ${sam}`,
    `mail: ${sam}@corp.example.org`,
    `objectGUID:: ${b64(adGuid(n))}`,
    `userAccountControl: ${options.disabled ? 514 : 512}`,
    ...options.memberOf.map((g) => `memberOf: ${g}`),
    `userPassword: ${directory.password(sam)}`,
    '',
  ].join('\n')
}

function adGroup(cn: string, members: string[]): string {
  return [`dn: ${directory.adGroup(cn)}`, 'objectClass: top', 'objectClass: group', `cn: ${cn}`]
    .concat(members.map((m) => `member: ${m}`))
    .concat([''])
    .join('\n')
}

/** The test directory loaded offline: people, service accounts, AD-style users and groups. */
export function testDirectoryLdif(): string {
  const ou = (name: string) => `dn: ou=${name},${baseDn}\nobjectClass: organizationalUnit\nou: ${name}\n`
  const service = (dn: string, cn: string) =>
    `dn: ${dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: ${cn}\nuserPassword: ${directory.servicePassword}\n`
  return [
    `dn: ${baseDn}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n`,
    ou('people'),
    ou('groups'),
    ou('services'),
    ou('ad'),
    service(directory.serviceDn, 'pga-reader'),
    service(directory.limitedServiceDn, 'pga-limited'),
    person('alice', 'Alice Admin', 'alice@example.org'),
    person('bob', 'Bob Operator', 'bob@example.org'),
    person('carol', 'Carol Viewer', 'carol@example.org'),
    person('dave', 'Dave Nogroup', 'dave@example.org'),
    person('frank', 'Frank Nomail', null),
    person('grace', 'Grace Deep', 'grace@example.org'),
    person('heidi', 'Heidi Auditor', 'heidi@example.org'),
    person('ivan', 'Ivan Newcomer', 'ivan@example.org'),
    person('oscar', 'Oscar Operator', 'oscar@example.org'),
    adGroup('PGA Admins', [directory.adGroup('DBA Team')]),
    adGroup('DBA Team', [`cn=jsmith,${directory.adDn}`]),
    adGroup('PGA Operators', [`cn=mjones,${directory.adDn}`]),
    adUser('jsmith', 1, { memberOf: [directory.adGroup('DBA Team')] }),
    adUser('mjones', 2, { memberOf: [directory.adGroup('PGA Operators')] }),
    adUser('olduser', 3, { disabled: true, memberOf: [directory.adGroup('PGA Operators')] }),
  ].join('\n')
}

/** OpenLDAP-style groups, added online so the memberof overlay fills the members' memberOf. */
export function testGroupsLdif(): string {
  return [
    // Nested: alice is in dba-team, which is in pga-admins; grace is three levels down.
    groupOfNames('dba-team', [directory.person('alice')]),
    groupOfNames('pga-admins', [directory.group('dba-team'), directory.group('platform')]),
    groupOfNames('platform', [directory.group('sre-oncall')]),
    groupOfNames('sre-oncall', [directory.person('grace')]),
    groupOfNames('pga-operators', [directory.person('bob'), directory.person('oscar')]),
    groupOfNames('pga-viewers', [
      directory.person('carol'),
      directory.person('frank'),
      directory.person('ivan'),
    ]),
    groupOfNames('pga-auditors', [directory.person('heidi')]),
    // A loop must not hang the walk: loop-a <-> loop-b.
    groupOfNames('loop-a', [directory.group('loop-b'), directory.person('dave')]),
    groupOfNames('loop-b', [directory.group('loop-a')]),
  ].join('\n')
}

/** Starts slapd with the test directory loaded. */
export async function startSlapd(): Promise<TestSlapd> {
  const dir = tempDir('slapd')
  const tls = await makeCertificates(dir)
  const other = await makeCertificates(tempDir('slapd-other-ca'))
  mkdirSync(join(dir, 'db'))
  const conf = join(dir, 'slapd.conf')
  writeFileSync(join(dir, 'active-directory.schema'), activeDirectorySchema)
  writeFileSync(conf, slapdConf(dir, tls))
  writeFileSync(join(dir, 'directory.ldif'), testDirectoryLdif())
  // Loaded offline before the server starts: faster than ldapadd, and no server to wait for.
  await run(sbin('slapadd'), ['-q', '-f', conf, '-l', join(dir, 'directory.ldif')])
  const [port, tlsPort] = [await freePort(), await freePort()]
  const url = `ldap://127.0.0.1:${port}`
  const ldapsUrl = `ldaps://127.0.0.1:${tlsPort}`
  // slapd forks into the background; it is stopped by the PID it writes.
  await run(sbin('slapd'), ['-f', conf, '-h', `${url}/ ${ldapsUrl}/`])
  await waitForPort(port)
  await waitForPort(tlsPort)
  const pidFile = join(dir, 'slapd.pid')
  const ldapTool = (tool: string, extra: string[]) => async (ldif: string) => {
    const file = join(dir, `change-${Date.now()}-${Math.random().toString(36).slice(2)}.ldif`)
    writeFileSync(file, ldif)
    await run(tool, [
      '-x',
      '-H',
      url,
      '-D',
      directory.adminDn,
      '-w',
      directory.adminPassword,
      ...extra,
      '-f',
      file,
    ])
  }
  const slapd = {
    url,
    ldapsUrl,
    port,
    caPem: readFileSync(tls.ca, 'utf8'),
    otherCaPem: readFileSync(other.ca, 'utf8'),
    modify: ldapTool('ldapmodify', []),
    add: ldapTool('ldapadd', ['-c']),
    async stop() {
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').trim())
        try {
          process.kill(pid, 'SIGTERM')
        } catch {
          // already gone
        }
        const deadline = Date.now() + 15_000
        while (Date.now() < deadline) {
          try {
            process.kill(pid, 0)
          } catch {
            break
          }
          await new Promise((r) => setTimeout(r, 50))
        }
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
  // A group may name a group added after it (loop-a, loop-b): members may dangle for a moment.
  await slapd.add(testGroupsLdif())
  return {
    ...slapd,
    async addPerson(uid, groups) {
      await slapd.add(person(uid, `${uid} Tester`, `${uid}@example.org`))
      if (groups.length > 0)
        await slapd.modify(
          groups
            .map(
              (g) =>
                `dn: ${directory.group(g)}\nchangetype: modify\nadd: member\nmember: ${directory.person(uid)}\n`,
            )
            .join('\n'),
        )
    },
  }
}
