// Enterprise sign-in figures for bench/auth.ts: LDAP sign-in (POST /api/v1/auth/ldap/{name}/login
// against a throwaway slapd over ldaps://, service-account search, user bind, nested-group walk,
// session and audit event) and the SAML ACS (POST /api/v1/auth/saml/{name}/acs with a signed
// response from a samlify IdP: XML Schema validation, XML-DSig verification, the state-store
// checks, session and audit event). Responses are prepared before the timed part (each answers
// its own AuthnRequest, from its own browser cookie), so only the service's work is measured.
// Latencies p50/p95/p99, sign-ins/s, server CPU per sign-in; sequential and concurrent.
import { verifySamlResponse } from '../src/auth/sso/saml-response.ts'
import { createSamlSchemaValidator } from '../src/auth/sso/xml-schema.ts'
import { bunRuntime } from '../src/runtime/bun.ts'
import { authnRequestOf, type SamlIdp, startSamlIdp } from '../test/harness/saml-idp.ts'
import { directory, startSlapd, type TestSlapd } from '../test/harness/slapd.ts'
import { quantile } from './support.ts'

export type SsoRow = {
  flow: 'LDAP sign-in' | 'SAML ACS'
  mode: 'sequential' | 'concurrent'
  clients: number
  count: number
  perSecond: number
  p50Ms: number
  p95Ms: number
  p99Ms: number
  serverCpuMsPerSignIn: number
}

type Service = { base: string; cpuSeconds: () => number }
type Options = { logins: number; clients: number; adminToken: string; publicUrl: string }

async function admin(service: Service, token: string, body: unknown) {
  const response = await fetch(`${service.base}/api/v1/identity-providers`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (response.status !== 201)
    throw new Error(`creating a provider answered ${response.status}: ${await response.text()}`)
}

/** Runs `one` `count` times over `clients` workers; times each call. */
async function measure(
  service: Service,
  flow: SsoRow['flow'],
  clients: number,
  count: number,
  one: (i: number) => Promise<void>,
): Promise<SsoRow> {
  const latencies: number[] = []
  const cpuBefore = service.cpuSeconds()
  const started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const i = next++
        const t = performance.now()
        await one(i)
        latencies.push(performance.now() - t)
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const cpu = service.cpuSeconds() - cpuBefore
  latencies.sort((a, b) => a - b)
  return {
    flow,
    mode: clients === 1 ? 'sequential' : 'concurrent',
    clients,
    count: latencies.length,
    perSecond: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p95Ms: quantile(latencies, 0.95),
    p99Ms: quantile(latencies, 0.99),
    serverCpuMsPerSignIn: (cpu * 1000) / Math.max(1, latencies.length),
  }
}

async function ldapLogin(service: Service) {
  const response = await fetch(`${service.base}/api/v1/auth/ldap/bench-ldap/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: directory.password('alice') }),
  })
  if (response.status !== 200)
    throw new Error(`LDAP sign-in answered ${response.status}: ${await response.text()}`)
  await response.arrayBuffer()
}

/** A browser's cookie and a signed response answering its AuthnRequest (prepared, not timed). */
async function prepareSaml(service: Service, idp: SamlIdp, publicUrl: string, i: number) {
  const start = await fetch(`${service.base}/api/v1/auth/saml/bench-saml/login`, { redirect: 'manual' })
  const cookie = (start.headers.getSetCookie()[0] ?? '').split(';')[0] as string
  await start.arrayBuffer()
  const response = await idp.respond({
    acsUrl: `${publicUrl}/api/v1/auth/saml/bench-saml/acs`,
    audience: `${publicUrl}/api/v1/auth/saml/bench-saml/metadata`,
    nameId: `bench-user-${i % 20}`,
    inResponseTo: authnRequestOf(start.headers.get('location') ?? '').id,
    attributes: { email: [`bench${i % 20}@saml.test`], groups: ['pga-operators'] },
  })
  return { cookie, body: new URLSearchParams({ SAMLResponse: response }).toString() }
}

type Prepared = { cookie: string; body: string }

async function postAcs(service: Service, prepared: Prepared) {
  const response = await fetch(`${service.base}/api/v1/auth/saml/bench-saml/acs`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: prepared.cookie },
    body: prepared.body,
  })
  if (response.status !== 303)
    throw new Error(`the ACS answered ${response.status}: ${await response.text()}`)
  await response.arrayBuffer()
}

/** In this process: the two costly steps of the ACS alone, median ms over 30 responses. */
export async function samlPieces(): Promise<{ schemaMs: number; signatureAndChecksMs: number }> {
  const idp = await startSamlIdp('bench-pieces')
  const validator = createSamlSchemaValidator(bunRuntime.assets.samlSchemaFile)
  const acsUrl = 'https://pga.bench.test/api/v1/auth/saml/p/acs'
  const audience = 'https://pga.bench.test/api/v1/auth/saml/p/metadata'
  const xmls: string[] = []
  for (let i = 0; i < 35; i++)
    xmls.push(
      Buffer.from(
        await idp.respond({ acsUrl, audience, nameId: `u${i}`, inResponseTo: `_r${i}` }),
        'base64',
      ).toString(),
    )
  const median = async (work: (xml: string) => unknown) => {
    const times: number[] = []
    for (const [i, xml] of xmls.entries()) {
      const t = performance.now()
      await work(xml)
      if (i >= 5) times.push(performance.now() - t)
    }
    return quantile(
      times.sort((a, b) => a - b),
      0.5,
    )
  }
  const expect = {
    idpEntityId: idp.entityId,
    certificates: [idp.certificatePem],
    spEntityId: audience,
    acsUrl,
    requireSigned: 'assertion' as const,
    clockSkewMs: 60_000,
  }
  return {
    schemaMs: await median((xml) => validator.validate(xml)),
    signatureAndChecksMs: await median((xml) => verifySamlResponse(xml, expect)),
  }
}

/** Starts slapd and a SAML IdP, creates the providers, measures; `onStarted` registers cleanup. */
export async function ssoSignInBench(
  service: Service,
  options: Options,
  onStarted: (name: string, stop: () => Promise<void>) => void,
): Promise<SsoRow[]> {
  const slapd: TestSlapd = await startSlapd()
  onStarted('slapd', () => slapd.stop())
  const idp = await startSamlIdp('bench-idp')
  await admin(service, options.adminToken, {
    type: 'ldap',
    name: 'bench-ldap',
    settings: {
      url: slapd.ldapsUrl,
      caCert: slapd.caPem,
      bindDn: directory.serviceDn,
      bindPassword: directory.servicePassword,
      userBaseDn: directory.peopleDn,
      groupBaseDn: directory.groupsDn,
      groupFilter: '(member={dn})',
      nestedGroups: 'walk',
    },
    roleMapping: [{ group: directory.group('pga-admins'), role: 'admin' }],
    strict: true,
  })
  await admin(service, options.adminToken, {
    type: 'saml',
    name: 'bench-saml',
    settings: { idpMetadataXml: idp.metadataXml, attributes: { email: 'email', groups: 'groups' } },
    roleMapping: [{ attribute: 'groups', value: 'pga-operators', role: 'operator' }],
  })
  for (let i = 0; i < 3; i++) await ldapLogin(service)
  const samlCount = options.logins
  const prepared: Prepared[] = []
  for (let i = 0; i < samlCount * 2 + 3; i++)
    prepared.push(await prepareSaml(service, idp, options.publicUrl, i))
  for (let i = 0; i < 3; i++) await postAcs(service, prepared.pop() as Prepared)
  const rows = [
    await measure(service, 'LDAP sign-in', 1, options.logins, () => ldapLogin(service)),
    await measure(service, 'LDAP sign-in', options.clients, options.logins * 2, () => ldapLogin(service)),
    await measure(service, 'SAML ACS', 1, samlCount, (i) => postAcs(service, prepared[i] as Prepared)),
    await measure(service, 'SAML ACS', options.clients, samlCount, (i) =>
      postAcs(service, prepared[samlCount + i] as Prepared),
    ),
  ]
  return rows
}
