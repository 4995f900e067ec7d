// The SAML 2.0 adapter (samlify): our service provider and the configured identity provider as
// samlify entities (cached per provider version), SP metadata, IdP metadata import (XML given, or
// fetched from a URL only when an administrator sets it), configuration checks and a test. The
// browser flow itself is in saml-sign-in.ts, the response checks in saml-response.ts.
import { X509Certificate } from 'node:crypto'
import type * as Samlify from 'samlify'
import type { FieldProblem } from '../../http/errors.ts'
import { BadRequestError } from '../../http/errors.ts'
import type { SsoConfig } from './config.ts'
import { fetchWithTimeout, requireSecureUrl } from './http-fetch.ts'
import type { SamlSettings } from './settings.ts'
import type { IdentityProvider, ProviderAdapter, TestStep } from './types.ts'
import { acsUrlOf, samlPath, spEntityIdOf } from './urls.ts'
import { validateSamlSchema } from './xml-schema.ts'

let samlifyLoading: Promise<typeof Samlify> | undefined
/** samlify and its XML stack (xml-crypto, xmldom, node-rsa, xpath) load with the first SAML
 * operation: evaluating them at start-up cost every replica time and memory, SAML or not. */
function loadSamlify(): Promise<typeof Samlify> {
  samlifyLoading ??= import('samlify').then((samlify) => {
    samlify.setSchemaValidator({ validate: (xml: string) => validateSamlSchema(xml) })
    return samlify
  })
  return samlifyLoading
}

/** A PEM certificate from PEM or bare base64 (metadata carries the latter). */
export function toPem(certificate: string): string {
  if (certificate.includes('-----BEGIN CERTIFICATE-----')) return certificate.trim()
  const body = certificate.replace(/\s+/g, '')
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----`
}
const bareCertificate = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '')

type Entities = {
  sp: ReturnType<typeof Samlify.ServiceProvider>
  idp: ReturnType<typeof Samlify.IdentityProvider>
}
const entityCache = new Map<string, Entities>()

/** samlify's view of the provider: our SP and their IdP, rebuilt when the provider changes. */
export async function entitiesOf(
  provider: IdentityProvider<'saml'>,
  secrets: Record<string, string>,
  config: SsoConfig,
): Promise<Entities> {
  const cacheKey = `${provider.id}:${provider.updatedAt}`
  const cached = entityCache.get(cacheKey)
  if (cached) return cached
  const samlify = await loadSamlify()
  const { binding } = samlify.Constants.namespace
  const s = provider.settings
  const sp = samlify.ServiceProvider({
    entityID: spEntityIdOf(provider, config) as string,
    assertionConsumerService: [
      { Binding: binding.post, Location: acsUrlOf(provider.name, config) as string },
    ],
    authnRequestsSigned: s.signAuthnRequests,
    wantAssertionsSigned: s.requireSigned === 'assertion' || s.requireSigned === 'both',
    nameIDFormat: [s.nameIdFormat],
    requestSignatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    clockDrifts: [-config.clockSkewMs, config.clockSkewMs],
    ...(s.signAuthnRequests && secrets.spPrivateKey ? { privateKey: secrets.spPrivateKey } : {}),
    ...(s.spCertificate ? { signingCert: s.spCertificate } : {}),
  })
  const idp = samlify.IdentityProvider({
    entityID: s.idpEntityId as string,
    signingCert: (s.idpCertificates ?? []).map(bareCertificate),
    wantAuthnRequestsSigned: s.signAuthnRequests,
    singleSignOnService: [{ Binding: binding.redirect, Location: s.idpSsoUrl as string }],
  })
  if (entityCache.size > 100) entityCache.clear()
  entityCache.set(cacheKey, { sp, idp })
  return { sp, idp }
}

/** Reads entity id, HTTP-Redirect SSO URL and signing certificates from IdP metadata XML. */
export async function parseIdpMetadata(
  xml: string,
): Promise<Pick<SamlSettings, 'idpEntityId' | 'idpSsoUrl' | 'idpCertificates'>> {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml))
    throw new BadRequestError('metadata_invalid', 'Metadata with a DOCTYPE is refused.')
  const samlify = await loadSamlify()
  try {
    const meta = samlify.IdentityProvider({ metadata: xml }).entityMeta
    const sso = meta.getSingleSignOnService('redirect')
    const certificates = [meta.getX509Certificate('signing') ?? []].flat(2).filter(Boolean) as string[]
    if (typeof sso !== 'string' || !sso) throw new Error('no HTTP-Redirect SingleSignOnService')
    if (certificates.length === 0) throw new Error('no signing certificate')
    return { idpEntityId: meta.getEntityID(), idpSsoUrl: sso, idpCertificates: certificates.map(toPem) }
  } catch (error) {
    throw new BadRequestError(
      'metadata_invalid',
      `The IdP metadata cannot be used: ${(error as Error).message}.`,
      [{ path: 'body.settings.idpMetadataXml', message: (error as Error).message }],
    )
  }
}

function checkSaml(
  settings: SamlSettings,
  secrets: Record<string, string>,
  config: SsoConfig,
): FieldProblem[] {
  const problems: FieldProblem[] = []
  const problem = (path: string, message: string) => problems.push({ path: `body.settings.${path}`, message })
  if (!config.publicUrl)
    problems.push({
      path: 'PGA_PUBLIC_URL',
      message: 'set PGA_PUBLIC_URL: the ACS URL and entity id are built from it',
    })
  if (!settings.idpEntityId) problem('idpEntityId', 'required (or idpMetadataXml / idpMetadataUrl)')
  if (!settings.idpSsoUrl) problem('idpSsoUrl', 'required (or idpMetadataXml / idpMetadataUrl)')
  if (!settings.idpCertificates?.length)
    problem('idpCertificates', 'at least one (or idpMetadataXml / idpMetadataUrl)')
  if (settings.idpSsoUrl && requireSecureUrl(settings.idpSsoUrl) !== null)
    problem('idpSsoUrl', requireSecureUrl(settings.idpSsoUrl) as string)
  if (settings.signAuthnRequests && (!secrets.spPrivateKey || !settings.spCertificate))
    problem('spPrivateKey', 'signAuthnRequests needs spPrivateKey and spCertificate')
  return problems
}

/** Metadata XML given, or fetched from the URL when this change sets it: fills the IdP fields. */
async function prepareSaml(settings: SamlSettings, config: SsoConfig, changed: Record<string, unknown>) {
  let xml = 'idpMetadataXml' in changed ? settings.idpMetadataXml : undefined
  if ('idpMetadataUrl' in changed && settings.idpMetadataUrl) {
    const problem = requireSecureUrl(settings.idpMetadataUrl)
    if (problem) throw new BadRequestError('metadata_invalid', `idpMetadataUrl: ${problem}`)
    const response = await fetchWithTimeout(
      settings.idpMetadataUrl,
      {},
      config.httpTimeoutMs,
      'the metadata URL',
    )
    if (!response.ok)
      throw new BadRequestError('metadata_invalid', `The metadata URL answered ${response.status}.`)
    xml = await response.text()
    if (xml.length > 1_048_576)
      throw new BadRequestError('metadata_invalid', 'The metadata is larger than 1 MiB.')
  }
  if (!xml) return settings
  return { ...settings, idpMetadataXml: xml, ...(await parseIdpMetadata(xml)) }
}

export const samlAdapter: ProviderAdapter<'saml'> = {
  type: 'saml',
  check: checkSaml,
  prepare: prepareSaml,
  loginPath: (name) => samlPath(name, 'login'),
  async test(ctx, provider, secrets) {
    const steps: TestStep[] = []
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    for (const [index, pem] of (provider.settings.idpCertificates ?? []).entries()) {
      try {
        const certificate = new X509Certificate(pem)
        const expires = Date.parse(certificate.validTo)
        const days = Math.floor((expires - Date.now()) / 86_400_000)
        steps.push({
          step: `certificate ${index + 1}`,
          ok: days > 0,
          detail: `${certificate.subject.replace(/\n/g, ', ')}, expires ${new Date(expires).toISOString()} (${days} days)`,
          ms: ms(),
        })
      } catch (error) {
        steps.push({
          step: `certificate ${index + 1}`,
          ok: false,
          detail: (error as Error).message,
          ms: ms(),
        })
      }
    }
    try {
      const { sp, idp } = await entitiesOf(provider, secrets, ctx.config)
      const request = sp.createLoginRequest(idp, 'redirect') as { id: string; context: string }
      steps.push({
        step: 'AuthnRequest',
        ok: true,
        detail: `${new URL(request.context).origin} (HTTP-Redirect)`,
        ms: ms(),
      })
    } catch (error) {
      steps.push({ step: 'AuthnRequest', ok: false, detail: (error as Error).message, ms: ms() })
    }
    return { ok: steps.every((s) => s.ok), steps }
  },
}
