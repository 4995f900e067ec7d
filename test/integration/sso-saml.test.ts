// SAML 2.0 sign-in with a real signed exchange: samlify plays the IdP (keys generated here), the
// service is the SP. A valid SP-initiated sign-in with attributes and groups, then every way a
// response must be refused (unsigned, altered, re-signed with another key, signature wrapping,
// replayed, wrong audience, recipient, destination, expired, unsolicited, another IdP's response,
// another browser), each with the reason the audit trail records.

import { createServer } from 'node:http'
import * as samlify from 'samlify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  authnRequestOf,
  elements,
  type ResponseOptions,
  removeSignatures,
  rsaKeyPair,
  type SamlIdp,
  startSamlIdp,
  tamper,
} from '../harness/saml-idp.ts'
import { startTestApp, type TestApp } from '../support/app.ts'
import { adminToken, browser, client, events, lastEventId } from '../support/sso.ts'

const publicUrl = 'https://pga.example.test'
const acs = (name: string) => `${publicUrl}/api/v1/auth/saml/${name}/acs`
const audience = (name: string) => `${publicUrl}/api/v1/auth/saml/${name}/metadata`

let t: TestApp
let idpA: SamlIdp
let idpB: SamlIdp
let impostor: SamlIdp
const http = client(() => t)

const roleMapping = [
  { attribute: 'groups', value: 'pga-admins', role: 'admin' },
  { attribute: 'groups', value: 'pga-operators', role: 'operator' },
]
const settingsFor = (idp: SamlIdp) => ({
  idpEntityId: idp.entityId,
  idpSsoUrl: idp.ssoUrl,
  idpCertificates: [idp.certificatePem],
  attributes: { email: 'email', displayName: 'displayName', groups: 'groups' },
  emailsVerified: true,
})

async function createProvider(
  name: string,
  settings: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  const res = await http.admin('POST', '/api/v1/identity-providers', {
    type: 'saml',
    name,
    settings,
    roleMapping,
    strict: true,
    ...extra,
  })
  expect(res.status, JSON.stringify(res.body)).toBe(201)
  return res.body
}

/** A browser that started an SP-initiated sign-in at `provider`: its request id. */
async function startLogin(provider: string, returnTo = '/app/dashboards') {
  const b = browser(() => t)
  const res = await b.get(`/api/v1/auth/saml/${provider}/login?returnTo=${encodeURIComponent(returnTo)}`)
  expect(res.status, res.text).toBe(302)
  return {
    b,
    request: authnRequestOf(res.headers.get('location') ?? ''),
    location: res.headers.get('location') ?? '',
  }
}

const user = (n: string): Partial<ResponseOptions> => ({
  nameId: `${n}-persistent-id`,
  attributes: {
    email: [`${n}@corp.test`],
    displayName: [`${n} Example`],
    groups: ['staff', 'pga-operators'],
  },
})
const respond = (idp: SamlIdp, provider: string, o: Partial<ResponseOptions>) =>
  idp.respond({ acsUrl: acs(provider), audience: audience(provider), nameId: 'nobody', ...o })

/** Posts a response to the ACS from a browser; returns the answer and the reason audited. */
async function post(
  b: ReturnType<typeof browser>,
  provider: string,
  samlResponse: string,
  relayState?: string,
) {
  const since = await lastEventId(t)
  const res = await b.send('POST', `/api/v1/auth/saml/${provider}/acs`, {
    form: { SAMLResponse: samlResponse, ...(relayState ? { RelayState: relayState } : {}) },
  })
  const failure = (await events(t, { type: 'auth.login', since })).find((e) => e.outcome === 'failure')
  return { res, reason: failure?.changes.reason as string | undefined }
}

beforeAll(async () => {
  const [app, a, b, impostorKeys] = await Promise.all([
    startTestApp({
      PGA_ADMIN_TOKEN: adminToken,
      PGA_PUBLIC_URL: publicUrl,
      PGA_SSO_RETURN_PATHS: '/app/,/docs',
      PGA_AUTH_RATE_PER_ADDRESS: '10000',
    }),
    startSamlIdp('idp-a'),
    startSamlIdp('idp-b'),
    rsaKeyPair('impostor'),
  ])
  ;[t, idpA, idpB] = [app, a, b]
  impostor = await startSamlIdp('impostor', { entityId: idpA.entityId, keys: impostorKeys })
  await createProvider('okta', settingsFor(idpA))
  await createProvider('other', settingsFor(idpB))
  await createProvider('idp-init', settingsFor(idpA), { strict: false, defaultRole: 'viewer' })
  await http.admin('PATCH', '/api/v1/identity-providers/idp-init', { settings: { allowIdpInitiated: true } })
})
afterAll(async () => {
  await t?.close()
})

describe('a valid sign-in', () => {
  it('SP-initiated: AuthnRequest, signed response with attributes and groups, code exchanged for tokens', async () => {
    const { b, request, location } = await startLogin('okta')
    expect(location.startsWith(`${idpA.ssoUrl}?SAMLRequest=`)).toBe(true)
    expect(request.xml).toContain(`AssertionConsumerServiceURL="${acs('okta')}"`)
    const { res } = await post(
      b,
      'okta',
      await respond(idpA, 'okta', { ...user('ann'), inResponseTo: request.id }),
    )
    expect(res.status, res.text).toBe(303)
    const locationAfter = res.headers.get('location') ?? ''
    expect(locationAfter).toMatch(/^\/app\/dashboards#sso_code=[A-Za-z0-9_-]{43}$/)
    const since = await lastEventId(t)
    const exchanged = await b.exchange(b.codeOf(res))
    expect(exchanged.status, exchanged.text).toBe(200)
    expect(exchanged.body).toMatchObject({
      token_type: 'Bearer',
      user: {
        email: 'ann@corp.test',
        displayName: 'ann Example',
        role: 'operator',
        source: 'saml',
        identityProvider: 'okta',
      },
    })
    const me = await http.as(exchanged.body.access_token)('GET', '/api/v1/auth/me')
    expect(me.body.email).toBe('ann@corp.test')
    // A code works once.
    expect((await b.exchange(b.codeOf(res))).body.code).toBe('sso_code_invalid')
    expect((await events(t, { type: 'auth.sso_code_exchanged', since })).map((e) => e.outcome)).toEqual([
      'success',
      'failure',
    ])
    const login = (await events(t, { type: 'auth.login' })).find((e) => e.changes.provider === 'okta')
    expect(login?.changes).toMatchObject({ method: 'saml', provider: 'okta' })
  })

  it('hands over a cookie session instead of tokens when asked, and the code only to the same browser', async () => {
    const { b, request } = await startLogin('okta', '/app/')
    const { res } = await post(
      b,
      'okta',
      await respond(idpA, 'okta', { ...user('bea'), inResponseTo: request.id }),
    )
    const code = b.codeOf(res)
    const stranger = browser(() => t)
    expect((await stranger.exchange(code)).body.code).toBe('sso_code_invalid')
    // The stranger's attempt consumed it: a stolen code is gone for everyone.
    const { b: b2, request: r2 } = await startLogin('okta', '/app/')
    const second = await post(
      b2,
      'okta',
      await respond(idpA, 'okta', { ...user('bea'), inResponseTo: r2.id }),
    )
    const cookie = await b2.exchange(b2.codeOf(second.res), 'cookie')
    expect(cookie.status).toBe(200)
    expect(cookie.body).not.toHaveProperty('access_token')
    // Exactly the documented CookieSession (no token_type either).
    expect(Object.keys(cookie.body).sort()).toEqual([
      'expires_in',
      'mfa_enrollment_required',
      'session_id',
      'user',
    ])
    expect(b2.jar.get('pga_access')).toBeTruthy()
  })

  it('publishes SP metadata and signs AuthnRequests when configured', async () => {
    const metadata = await browser(() => t).get('/api/v1/auth/saml/okta/metadata')
    expect(metadata.headers.get('content-type')).toMatch(/samlmetadata\+xml/)
    expect(metadata.text).toContain(`entityID="${audience('okta')}"`)
    expect(metadata.text).toContain(`Location="${acs('okta')}"`)
    const sp = await rsaKeyPair('pga-sp')
    await createProvider('signed-requests', {
      ...settingsFor(idpA),
      signAuthnRequests: true,
      spPrivateKey: sp.keyPem,
      spCertificate: sp.certificatePem,
    })
    const { location } = await startLogin('signed-requests')
    const query = new URL(location).searchParams
    expect(query.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256')
    // The IdP verifies the signature with our published certificate.
    const ourSp = samlify.ServiceProvider({
      metadata: (await browser(() => t).get('/api/v1/auth/saml/signed-requests/metadata')).text,
    })
    const idp = samlify.IdentityProvider({ metadata: idpA.metadataXml, wantAuthnRequestsSigned: true })
    const octetString = location.split('?')[1]?.split('&Signature=')[0] ?? ''
    const parsed = await idp.parseLoginRequest(ourSp, 'redirect', {
      query: Object.fromEntries(query),
      octetString,
    })
    expect(parsed.extract.request?.id).toBeTruthy()
  })

  it('IdP-initiated where allowed; RelayState only to allowed relative paths', async () => {
    for (const [relayState, expected] of [
      ['/app/instances?x=1', '/app/instances?x=1'],
      ['https://evil.example/steal', '/app/'],
      ['//evil.example/steal', '/app/'],
      ['/\\evil.example', '/app/'],
      ['/not-allowed', '/app/'],
    ]) {
      const b = browser(() => t)
      const { res } = await post(b, 'idp-init', await respond(idpA, 'idp-init', user('cid')), relayState)
      expect(res.status, res.text).toBe(303)
      expect(res.headers.get('location')?.split('#')[0], relayState).toBe(expected)
    }
  })

  it('trusts the IdP’s MFA (AuthnContextClassRef) only when the provider is set to', async () => {
    await http.admin('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: ['operator'] })
    const mfaContext = 'http://schemas.microsoft.com/claims/multipleauthn'
    const signIn = async (name: string) => {
      const { b, request } = await startLogin('okta', '/app/')
      const { res } = await post(
        b,
        'okta',
        await respond(idpA, 'okta', {
          ...user(name),
          inResponseTo: request.id,
          authnContextClassRef: mfaContext,
        }),
      )
      return (await b.exchange(b.codeOf(res))).body
    }
    expect((await signIn('dee')).mfa_enrollment_required).toBe(true)
    await http.admin('PATCH', '/api/v1/identity-providers/okta', { trustProviderMfa: true })
    expect((await signIn('dee')).mfa_enrollment_required).toBe(false)
    await http.admin('PATCH', '/api/v1/identity-providers/okta', { trustProviderMfa: false })
    await http.admin('PUT', '/api/v1/auth/mfa-policy', { rolesRequiringMfa: [] })
  })
})

describe('refused responses', () => {
  /** A fresh SP-initiated sign-in and a response answering it (then changed by the test). */
  const answered = async (o: Partial<ResponseOptions> = {}, provider = 'okta', idp = idpA) => {
    const { b, request } = await startLogin(provider)
    return {
      b,
      response: await respond(idp, provider, { ...user('eve'), inResponseTo: request.id, ...o }),
      id: request.id,
    }
  }
  const refused = async (b: ReturnType<typeof browser>, response: string, provider = 'okta') => {
    const { res, reason } = await post(b, provider, response)
    expect([res.status, res.body?.code], reason).toEqual([401, 'saml_response_rejected'])
    return reason
  }

  it('unsigned, altered, and re-signed with another key', async () => {
    const a = await answered()
    expect(await refused(a.b, tamper(a.response, removeSignatures))).toBe('signature_missing')
    const b = await answered()
    const altered = tamper(b.response, (doc) => {
      const value = elements(doc, 'saml', 'AttributeValue').find((v) => v.textContent === 'pga-operators')
      if (value) value.textContent = 'pga-admins'
    })
    expect(await refused(b.b, altered)).toBe('signature_invalid')
    const c = await answered({}, 'okta', impostor)
    expect(await refused(c.b, c.response)).toBe('signature_invalid')
  })

  it('signature wrapping (XSW): a second assertion, the signed one moved or nested, a signature pointing elsewhere', async () => {
    const wrapped = async (change: (doc: Document) => void) => {
      const { b, response } = await answered()
      return refused(b, tamper(response, change))
    }
    const evilCopy = (doc: Document) => {
      const original = elements(doc, 'saml', 'Assertion')[0] as Element
      const evil = original.cloneNode(true) as Element
      for (const s of elements(evil, 'ds', 'Signature')) s.parentNode?.removeChild(s)
      evil.setAttribute('ID', '_evil')
      const nameId = elements(evil, 'saml', 'NameID')[0] as Element
      nameId.textContent = 'admin-persistent-id'
      return { original, evil }
    }
    const reasons = [
      // XSW: an unsigned evil assertion before the signed one.
      await wrapped((doc) => {
        const { original, evil } = evilCopy(doc)
        original.parentNode?.insertBefore(evil, original)
      }),
      // The signed assertion moved into the evil one's SubjectConfirmationData (or Advice).
      await wrapped((doc) => {
        const { original, evil } = evilCopy(doc)
        original.parentNode?.replaceChild(evil, original)
        elements(evil, 'saml', 'SubjectConfirmationData')[0]?.appendChild(original)
      }),
      // The evil assertion takes the signed one's ID; the original hides in Extensions.
      await wrapped((doc) => {
        const { original, evil } = evilCopy(doc)
        evil.setAttribute('ID', original.getAttribute('ID') as string)
        const signature = elements(original, 'ds', 'Signature')[0] as Element
        evil.insertBefore(signature.cloneNode(true), evil.firstChild?.nextSibling ?? null)
        const extensions = doc.createElementNS('urn:oasis:names:tc:SAML:2.0:protocol', 'samlp:Extensions')
        extensions.appendChild(original)
        doc.documentElement.insertBefore(extensions, doc.documentElement.firstChild?.nextSibling ?? null)
        doc.documentElement.appendChild(evil)
      }),
      // The evil assertion carries the original's signature, whose reference finds nothing.
      await wrapped((doc) => {
        const { original, evil } = evilCopy(doc)
        const signature = elements(original, 'ds', 'Signature')[0] as Element
        evil.insertBefore(signature.cloneNode(true), evil.firstChild?.nextSibling ?? null)
        original.parentNode?.replaceChild(evil, original)
      }),
    ]
    expect(reasons, JSON.stringify(reasons)).toEqual([
      'assertion_count',
      'assertion_count',
      'assertion_count',
      'signature_invalid',
    ])
    expect((await events(t, { type: 'user.created' })).map((e) => e.changes)).not.toContainEqual(
      expect.objectContaining({ externalId: 'admin-persistent-id' }),
    )
  })

  it('replayed, answering no request of ours, or reaching another browser', async () => {
    const { b, response } = await answered()
    expect((await post(b, 'okta', response)).res.status).toBe(303)
    expect(await refused(b, response)).toBe('replayed')
    const forged = await respond(idpA, 'okta', { ...user('eve'), inResponseTo: '_not-a-request-of-ours' })
    expect(
      await refused(
        browser(() => t),
        forged,
      ),
    ).toBe('unknown_request')
    const c = await answered()
    expect(
      await refused(
        browser(() => t),
        c.response,
      ),
    ).toBe('browser_mismatch')
    const idpInitiated = await respond(idpA, 'idp-init', user('ivy'))
    expect(
      (
        await post(
          browser(() => t),
          'idp-init',
          idpInitiated,
        )
      ).res.status,
    ).toBe(303)
    expect(
      await refused(
        browser(() => t),
        idpInitiated,
        'idp-init',
      ),
    ).toBe('replayed')
  })

  it('wrong audience, recipient, destination; expired or not yet valid; issued by another IdP', async () => {
    const cases: [Partial<ResponseOptions>, string][] = [
      [{ audience: 'https://someone-else.example/sp' }, 'wrong_audience'],
      [{ recipient: `${publicUrl}/api/v1/auth/saml/other/acs` }, 'wrong_recipient'],
      [{ destination: 'https://evil.example/acs' }, 'wrong_destination'],
      [
        { notBefore: new Date(Date.now() - 900_000), notOnOrAfter: new Date(Date.now() - 600_000) },
        'expired',
      ],
      [
        { notBefore: new Date(Date.now() + 600_000), notOnOrAfter: new Date(Date.now() + 900_000) },
        'not_yet_valid',
      ],
      [{ issuer: idpB.entityId }, 'wrong_issuer'],
      [{ sha1: true }, 'weak_signature'],
      [{ status: 'urn:oasis:names:tc:SAML:2.0:status:Responder' }, 'idp_status'],
      [{ nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient' }, 'transient_name_id'],
    ]
    for (const [change, reason] of cases) {
      const { b, response } = await answered(change)
      expect(await refused(b, response), JSON.stringify(change)).toBe(reason)
    }
  })

  it('unsolicited where not allowed; IdP A’s response at IdP B’s ACS', async () => {
    expect(
      await refused(
        browser(() => t),
        await respond(idpA, 'okta', user('eve')),
      ),
    ).toBe('unsolicited')
    // Aimed at B's ACS (audience and recipient right) but signed by A.
    const { b, response } = await answered({}, 'other', idpA)
    expect(await refused(b, response, 'other')).toBe('signature_invalid')
    // A genuine response for provider okta, posted to provider other's ACS.
    const c = await answered({}, 'okta', idpA)
    expect(await refused(c.b, c.response, 'other')).toBe('signature_invalid')
  })

  it('the signature placement the provider requires; a DOCTYPE; invalid against the SAML schema', async () => {
    await createProvider('both-signed', { ...settingsFor(idpA), requireSigned: 'both' })
    const onlyAssertion = await answered({ sign: 'assertion' }, 'both-signed')
    expect(await refused(onlyAssertion.b, onlyAssertion.response, 'both-signed')).toBe('signature_missing')
    const both = await answered({ sign: 'both', ...user('bo') }, 'both-signed')
    expect((await post(both.b, 'both-signed', both.response)).res.status).toBe(303)
    const onlyResponse = await answered({ sign: 'response' })
    expect(await refused(onlyResponse.b, onlyResponse.response)).toBe('signature_missing')
    const doctype = await answered()
    const xml = Buffer.from(doctype.response, 'base64').toString()
    const withDoctype = xml.replace('<samlp:Response', '<!DOCTYPE r [<!ENTITY x "y">]><samlp:Response')
    expect(await refused(doctype.b, Buffer.from(withDoctype).toString('base64'))).toBe('doctype')
    // Signed, but the Response lacks its required IssueInstant: samlify's schema validation refuses it.
    const invalid = await answered({ sign: 'assertion' })
    const noIssueInstant = tamper(invalid.response, (doc) =>
      doc.documentElement.removeAttribute('IssueInstant'),
    )
    expect(await refused(invalid.b, noIssueInstant)).toBe('schema_invalid')
  })
})

describe('IdP metadata import', () => {
  it('reads entity id, SSO URL and certificates from XML, and fetches a URL only when told to', async () => {
    const fromXml = await createProvider('from-xml', { idpMetadataXml: idpB.metadataXml })
    expect(fromXml.settings).toMatchObject({ idpEntityId: idpB.entityId, idpSsoUrl: idpB.ssoUrl })
    expect(fromXml.settings).not.toHaveProperty('idpMetadataXml')
    let fetched = 0
    const server = createServer((_req, res) => {
      fetched++
      res.writeHead(200, { 'Content-Type': 'application/samlmetadata+xml' }).end(idpA.metadataXml)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    try {
      const fromUrl = await createProvider('from-url', {
        idpMetadataUrl: `http://127.0.0.1:${port}/metadata`,
      })
      expect(fromUrl.settings).toMatchObject({ idpEntityId: idpA.entityId })
      await http.admin('PATCH', '/api/v1/identity-providers/from-url', { displayName: 'Renamed' })
      expect(fetched).toBe(1)
      await http.admin('PATCH', '/api/v1/identity-providers/from-url', {
        settings: { idpMetadataUrl: `http://127.0.0.1:${port}/metadata` },
      })
      expect(fetched).toBe(2)
    } finally {
      server.close()
    }
    const remote = await http.admin('POST', '/api/v1/identity-providers', {
      type: 'saml',
      name: 'insecure-url',
      settings: { idpMetadataUrl: 'http://metadata.example.com/x' },
    })
    expect([remote.status, remote.body.code]).toEqual([400, 'metadata_invalid'])
  })
})
