// A SAML identity provider for the tests: samlify in the IdP role, with an RSA key and a
// self-signed certificate generated here (openssl), answering AuthnRequests with signed Responses
// whose every field the test chooses (audience, recipient, times, attributes, which parts are
// signed, the signature algorithm), and the XML tools to tamper with them (alter, strip
// signatures, wrap: XSW).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { inflateRawSync } from 'node:zlib'
import { DOMParser, XMLSerializer } from '@xmldom/xmldom'
import * as samlify from 'samlify'
import { run, tempDir } from './processes.ts'

const { binding } = samlify.Constants.namespace
const ns = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
}
const sha1 = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1'
const sha256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'

export type ResponseOptions = {
  acsUrl: string
  audience: string
  nameId: string
  nameIdFormat?: string
  inResponseTo?: string
  attributes?: Record<string, string[]>
  authnContextClassRef?: string
  sign?: 'assertion' | 'response' | 'both'
  sha1?: boolean
  /** Overrides (default: now, +5 min, the ACS URL, the IdP's entity id). */
  notBefore?: Date
  notOnOrAfter?: Date
  recipient?: string
  destination?: string
  issuer?: string
  /** The top-level StatusCode (default Success). */
  status?: string
}

export type SamlIdp = {
  entityId: string
  ssoUrl: string
  certificatePem: string
  metadataXml: string
  /** A base64 SAMLResponse. */
  respond(options: ResponseOptions): Promise<string>
}

/** An RSA key and a self-signed certificate, PEM. */
export async function rsaKeyPair(name: string) {
  const dir = tempDir(`saml-${name}`)
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')]
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ])
  return { keyPem: readFileSync(key, 'utf8'), certificatePem: readFileSync(cert, 'utf8') }
}

const escapeXml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')

function responseXml(id: string, assertionId: string, entityId: string, o: ResponseOptions): string {
  const now = new Date()
  const notBefore = (o.notBefore ?? now).toISOString()
  const notOnOrAfter = (o.notOnOrAfter ?? new Date(now.getTime() + 300_000)).toISOString()
  const inResponseTo = o.inResponseTo ? ` InResponseTo="${escapeXml(o.inResponseTo)}"` : ''
  const attributes = Object.entries(o.attributes ?? {})
    .map(
      ([name, values]) =>
        `<saml:Attribute Name="${escapeXml(name)}">${values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${escapeXml(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`,
    )
    .join('')
  return (
    `<samlp:Response xmlns:samlp="${ns.samlp}" xmlns:saml="${ns.saml}" ID="${id}" Version="2.0" IssueInstant="${now.toISOString()}" Destination="${escapeXml(o.destination ?? o.acsUrl)}"${inResponseTo}>` +
    `<saml:Issuer>${escapeXml(o.issuer ?? entityId)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${o.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success'}"/></samlp:Status>` +
    `<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="${assertionId}" Version="2.0" IssueInstant="${now.toISOString()}">` +
    `<saml:Issuer>${escapeXml(o.issuer ?? entityId)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${o.nameIdFormat ?? 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent'}">${escapeXml(o.nameId)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${notOnOrAfter}" Recipient="${escapeXml(o.recipient ?? o.acsUrl)}"${inResponseTo}/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${escapeXml(o.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="_s${assertionId}"><saml:AuthnContext><saml:AuthnContextClassRef>${escapeXml(o.authnContextClassRef ?? 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport')}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
    '</saml:Assertion></samlp:Response>'
  )
}

/** A samlify IdP with its own key; `keys` lets two IdPs share an entity id but not a key. */
export async function startSamlIdp(
  name: string,
  options: { entityId?: string; keys?: { keyPem: string; certificatePem: string } } = {},
): Promise<SamlIdp> {
  const keys = options.keys ?? (await rsaKeyPair(name))
  const entityId = options.entityId ?? `https://${name}.idp.test/metadata`
  const ssoUrl = `https://${name}.idp.test/sso`
  const make = (signatureAlgorithm: string) =>
    samlify.IdentityProvider({
      entityID: entityId,
      privateKey: keys.keyPem,
      signingCert: keys.certificatePem,
      requestSignatureAlgorithm: signatureAlgorithm,
      singleSignOnService: [{ Binding: binding.redirect, Location: ssoUrl }],
      nameIDFormat: ['urn:oasis:names:tc:SAML:2.0:nameid-format:persistent'],
    })
  const idp = make(sha256)
  const idpSha1 = make(sha1)
  return {
    entityId,
    ssoUrl,
    certificatePem: keys.certificatePem,
    metadataXml: idp.getMetadata(),
    async respond(o) {
      const sign = o.sign ?? 'assertion'
      // samlify signs the assertion when the SP wants it, the message when asked (or when the
      // assertion is not signed).
      const sp = samlify.ServiceProvider({
        entityID: o.audience,
        assertionConsumerService: [{ Binding: binding.post, Location: o.acsUrl }],
        wantAssertionsSigned: sign !== 'response',
        wantMessageSigned: sign !== 'assertion',
      })
      const id = `_r${crypto.randomUUID().replaceAll('-', '')}`
      const assertionId = `_a${crypto.randomUUID().replaceAll('-', '')}`
      const { context } = await (o.sha1 ? idpSha1 : idp).createLoginResponse(
        sp,
        { extract: {} },
        'post',
        {},
        () => ({
          id,
          context: responseXml(id, assertionId, entityId, o),
        }),
      )
      return context
    },
  }
}

// Tampering -------------------------------------------------------------------------------------

export const decodeResponse = (base64: string) => Buffer.from(base64, 'base64').toString('utf8')
export const encodeResponse = (xml: string) => Buffer.from(xml, 'utf8').toString('base64')

/** Parses, lets `change` edit the DOM, and serialises again (base64 in, base64 out). */
export function tamper(base64: string, change: (doc: Document) => void): string {
  const doc = new DOMParser().parseFromString(decodeResponse(base64), 'text/xml') as unknown as Document
  change(doc)
  return encodeResponse(new XMLSerializer().serializeToString(doc as never))
}

export const elements = (doc: Document | Element, namespace: keyof typeof ns, local: string): Element[] =>
  Array.from(doc.getElementsByTagNameNS(ns[namespace], local))

export function removeSignatures(doc: Document) {
  for (const signature of elements(doc, 'ds', 'Signature')) signature.parentNode?.removeChild(signature)
}

/** The ID of the AuthnRequest in a HTTP-Redirect URL. */
export function authnRequestOf(url: string): { id: string; xml: string } {
  const request = new URL(url).searchParams.get('SAMLRequest') ?? ''
  const xml = inflateRawSync(Buffer.from(request, 'base64')).toString('utf8')
  return { id: /\sID="([^"]+)"/.exec(xml)?.[1] ?? '', xml }
}
