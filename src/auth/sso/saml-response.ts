// The checks a SAML Response must pass before anything in it is believed. Structure first (one
// Response, exactly one Assertion, its direct child; no DOCTYPE, no encrypted assertion), then
// the signatures the provider requires (XML-DSig verified with the IdP's certificates only, the
// reference naming its own parent, no SHA-1), then everything read from the XML that was signed
// (xml-crypto's signed references), never from the received document: so a wrapped copy
// (XSW) is never what is read. Then the status, issuer, audience, recipient, destination and time
// window.
// InResponseTo and the replay cache are the caller's (they need the state store).
import { DOMParser } from '@xmldom/xmldom'
import { SignedXml } from 'xml-crypto'

const ns = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
}
const bearer = 'urn:oasis:names:tc:SAML:2.0:cm:bearer'

/** Why a response was refused: `reason` goes to the audit trail, the message to the client. */
export class SamlRejection extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message)
    this.name = 'SamlRejection'
  }
}
const reject = (reason: string, message: string): never => {
  throw new SamlRejection(reason, message)
}

export type SamlExpectations = {
  idpEntityId: string
  certificates: string[]
  spEntityId: string
  acsUrl: string
  requireSigned: 'assertion' | 'response' | 'both' | 'either'
  clockSkewMs: number
  now?: number
}

export type VerifiedAssertion = {
  assertionId: string
  nameId: string
  nameIdFormat: string | null
  /** From the signed assertion's SubjectConfirmationData, else the (signed) Response. */
  inResponseTo: string | null
  /** When the assertion stops being usable (the replay cache keeps its id until then). */
  notOnOrAfter: number
  attributes: Record<string, string[]>
  authnContextClassRefs: string[]
}

function parse(xml: string): Document {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml))
    reject('doctype', 'The response contains a DOCTYPE or entity declaration.')
  const problems: string[] = []
  const doc = new DOMParser({
    errorHandler: {
      warning: () => {},
      error: (message: string) => problems.push(message),
      fatalError: (message: string) => problems.push(message),
    },
  }).parseFromString(xml, 'text/xml')
  if (problems.length > 0 || !doc?.documentElement)
    reject('malformed', 'The response is not well-formed XML.')
  return doc as unknown as Document
}

const childElements = (parent: Element, namespace: string, local: string): Element[] =>
  Array.from(parent.childNodes).filter(
    (n): n is Element =>
      n.nodeType === 1 && (n as Element).localName === local && (n as Element).namespaceURI === namespace,
  )
const child = (parent: Element | undefined, namespace: string, local: string) =>
  parent ? childElements(parent, namespace, local)[0] : undefined
const text = (element: Element | undefined) => element?.textContent?.trim() ?? ''

/** The canonical XML an element's own enveloped signature covers, or null (absent); throws when
 * present but not valid with any of the certificates. */
function signedContentOf(element: Element, xml: string, certificates: string[], what: string): string | null {
  const signature = child(element, ns.ds, 'Signature')
  if (!signature) return null
  const method =
    signature.getElementsByTagNameNS(ns.ds, 'SignatureMethod')[0]?.getAttribute('Algorithm') ?? ''
  if (/sha1$/i.test(method)) reject('weak_signature', `The ${what} is signed with SHA-1, which is refused.`)
  const id = element.getAttribute('ID')
  for (const certificate of certificates) {
    const verifier = new SignedXml({ publicCert: certificate, getCertFromKeyInfo: () => null })
    // No SHA-1 anywhere (digests included); HMAC is off in xml-crypto by default (key confusion).
    delete verifier.HashAlgorithms['http://www.w3.org/2000/09/xmldsig#sha1']
    delete verifier.SignatureAlgorithms['http://www.w3.org/2000/09/xmldsig#rsa-sha1']
    try {
      verifier.loadSignature(signature)
      if (!verifier.checkSignature(xml)) continue
    } catch {
      continue
    }
    const references = verifier.getReferences()
    const signed = verifier.getSignedReferences()
    if (references.length !== 1 || signed.length !== 1 || references[0]?.uri !== `#${id}`)
      reject('signature_reference', `The ${what}'s signature does not cover the ${what} itself.`)
    return signed[0] as string
  }
  return reject(
    'signature_invalid',
    `The ${what}'s signature is not valid with the identity provider's certificates.`,
  )
}

/** Checks structure and signatures; returns the XML of the assertion and response that were signed. */
function verifiedParts(xml: string, expect: SamlExpectations) {
  const doc = parse(xml)
  const response = doc.documentElement as Element
  if (response.localName !== 'Response' || response.namespaceURI !== ns.samlp)
    reject('not_a_response', 'The message is not a SAML Response.')
  if (doc.getElementsByTagNameNS(ns.saml, 'EncryptedAssertion').length > 0)
    reject(
      'encrypted_assertion',
      'Encrypted assertions are not supported: configure the IdP to sign, not encrypt.',
    )
  const assertions = doc.getElementsByTagNameNS(ns.saml, 'Assertion')
  const assertion = child(response, ns.saml, 'Assertion')
  if (assertions.length !== 1 || !assertion || assertions[0] !== assertion)
    reject('assertion_count', 'A response must carry exactly one assertion, directly inside it.')
  const status = child(child(response, ns.samlp, 'Status'), ns.samlp, 'StatusCode')?.getAttribute('Value')
  if (status !== 'urn:oasis:names:tc:SAML:2.0:status:Success')
    reject('idp_status', `The identity provider answered ${status ?? 'no status'}.`)
  const signedResponse = signedContentOf(response, xml, expect.certificates, 'response')
  const signedAssertion = signedContentOf(assertion as Element, xml, expect.certificates, 'assertion')
  const required = {
    assertion: !!signedAssertion,
    response: !!signedResponse,
    both: !!signedAssertion && !!signedResponse,
    either: !!signedAssertion || !!signedResponse,
  }[expect.requireSigned]
  if (!required)
    reject(
      'signature_missing',
      `The response must be signed (${expect.requireSigned}); it is not signed that way.`,
    )
  const responseElement = signedResponse ? parse(signedResponse).documentElement : response
  const assertionElement = signedAssertion
    ? parse(signedAssertion).documentElement
    : child(responseElement as Element, ns.saml, 'Assertion')
  if (!assertionElement || assertionElement.getAttribute('ID') !== (assertion as Element).getAttribute('ID'))
    reject('signature_reference', 'The signed assertion is not the one in the response.')
  return { response: responseElement as Element, assertion: assertionElement as Element }
}

const time = (value: string | null | undefined) => (value ? Date.parse(value) : Number.NaN)

function checkConditions(assertion: Element, expect: SamlExpectations, now: number): number {
  const conditions = child(assertion, ns.saml, 'Conditions')
  if (!conditions) reject('no_conditions', 'The assertion has no Conditions (audience and validity).')
  const notBefore = time(conditions?.getAttribute('NotBefore'))
  const notOnOrAfter = time(conditions?.getAttribute('NotOnOrAfter'))
  if (!Number.isNaN(notBefore) && now + expect.clockSkewMs < notBefore)
    reject('not_yet_valid', 'The assertion is not valid yet (NotBefore); check the clocks.')
  if (Number.isNaN(notOnOrAfter) || now - expect.clockSkewMs >= notOnOrAfter)
    reject('expired', 'The assertion has expired (NotOnOrAfter).')
  const audiences = childElements(conditions as Element, ns.saml, 'AudienceRestriction').map((r) =>
    childElements(r, ns.saml, 'Audience').map(text),
  )
  // Every AudienceRestriction must name us (SAML core 2.5.1.4).
  if (audiences.length === 0 || !audiences.every((list) => list.includes(expect.spEntityId)))
    reject(
      'wrong_audience',
      `The assertion is not meant for this service (audience is not ${expect.spEntityId}).`,
    )
  return notOnOrAfter
}

/** Bearer confirmation for our ACS, still valid; returns its InResponseTo. */
function checkSubject(subject: Element | undefined, expect: SamlExpectations, now: number): string | null {
  const confirmations = subject ? childElements(subject, ns.saml, 'SubjectConfirmation') : []
  const data = confirmations
    .filter((c) => c.getAttribute('Method') === bearer)
    .map((c) => child(c, ns.saml, 'SubjectConfirmationData'))
    .filter((d): d is Element => !!d)
  if (data.length === 0) reject('no_bearer_confirmation', 'The assertion has no bearer subject confirmation.')
  const forUs = data.filter((d) => d.getAttribute('Recipient') === expect.acsUrl)
  if (forUs.length === 0) reject('wrong_recipient', `The assertion's Recipient is not ${expect.acsUrl}.`)
  const valid = forUs.find((d) => {
    const until = time(d.getAttribute('NotOnOrAfter'))
    return !Number.isNaN(until) && now - expect.clockSkewMs < until && !d.getAttribute('NotBefore')
  })
  if (!valid) reject('expired', 'The subject confirmation has expired.')
  return (valid as Element).getAttribute('InResponseTo') || null
}

function attributesOf(assertion: Element): Record<string, string[]> {
  const attributes: Record<string, string[]> = {}
  for (const statement of childElements(assertion, ns.saml, 'AttributeStatement'))
    for (const attribute of childElements(statement, ns.saml, 'Attribute')) {
      const name = attribute.getAttribute('Name') ?? ''
      attributes[name] = [
        ...(attributes[name] ?? []),
        ...childElements(attribute, ns.saml, 'AttributeValue').map(text),
      ]
    }
  return attributes
}

/** Verifies a decoded SAMLResponse; throws SamlRejection with the reason when anything is off. */
export function verifySamlResponse(xml: string, expect: SamlExpectations): VerifiedAssertion {
  const now = expect.now ?? Date.now()
  const { response, assertion } = verifiedParts(xml, expect)
  if (text(child(assertion, ns.saml, 'Issuer')) !== expect.idpEntityId)
    reject('wrong_issuer', 'The assertion was issued by another identity provider.')
  const destination = response.getAttribute('Destination')
  if (destination && destination !== expect.acsUrl)
    reject('wrong_destination', `The response's Destination is not ${expect.acsUrl}.`)
  const notOnOrAfter = checkConditions(assertion, expect, now)
  const subject = child(assertion, ns.saml, 'Subject')
  const confirmedInResponseTo = checkSubject(subject, expect, now)
  const responseInResponseTo = response.getAttribute('InResponseTo') || null
  if (confirmedInResponseTo && responseInResponseTo && confirmedInResponseTo !== responseInResponseTo)
    reject('in_response_to_mismatch', 'The response and its assertion answer different requests.')
  const nameIdElement = child(subject, ns.saml, 'NameID')
  const nameId = text(nameIdElement)
  if (!nameId) reject('no_name_id', 'The assertion names no subject (NameID).')
  const statements = childElements(assertion, ns.saml, 'AuthnStatement')
  const sessionEnds = statements
    .map((s) => time(s.getAttribute('SessionNotOnOrAfter')))
    .filter((t) => !Number.isNaN(t))
  if (sessionEnds.some((end) => now - expect.clockSkewMs >= end))
    reject('expired', 'The IdP session the assertion belongs to has ended (SessionNotOnOrAfter).')
  return {
    assertionId: assertion.getAttribute('ID') ?? '',
    nameId,
    nameIdFormat: nameIdElement?.getAttribute('Format') ?? null,
    inResponseTo: confirmedInResponseTo ?? responseInResponseTo,
    notOnOrAfter,
    attributes: attributesOf(assertion),
    authnContextClassRefs: statements.flatMap((s) =>
      Array.from(s.getElementsByTagNameNS(ns.saml, 'AuthnContextClassRef')).map((e) => text(e as Element)),
    ),
  }
}
