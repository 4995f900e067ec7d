// The SAML browser flow: SP-initiated login (a signed or unsigned AuthnRequest over HTTP-Redirect,
// its id kept in the state store with the return path and the browser binding), SP metadata, and
// the ACS: the response is verified (saml-response.ts: structure, signatures, status, conditions;
// then the SAML 2.0 XML Schema),
// must answer a request we sent from this browser (or be unsolicited where allowed), is accepted
// once (replay cache until it expires), and becomes the same sign-in as a password login.
import { NotFoundError, UnauthorizedError } from '../../http/errors.ts'
import { completeSignIn, recordSsoFailure } from './complete-sign-in.ts'
import { redirectWithCode } from './exchange.ts'
import {
  hashBinding,
  rememberAssertion,
  type SamlRequestRecord,
  safeReturnPath,
  sameBinding,
  saveHandshake,
  takeHandshake,
} from './handshakes.ts'
import * as repo from './repo.ts'
import { entitiesOf } from './saml.ts'
import { SamlRejection, type VerifiedAssertion, verifySamlResponse } from './saml-response.ts'
import { secretsOf } from './service.ts'
import type { ExternalIdentity, IdentityProvider, SsoContext } from './types.ts'
import { acsUrlOf, spEntityIdOf } from './urls.ts'
import { validateSamlSchema } from './xml-schema.ts'

const transient = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient'

async function enabledProvider(ctx: Pick<SsoContext, 'db'>, name: string) {
  const provider = await repo.findEnabledProvider(ctx.db, name, 'saml')
  if (!provider)
    throw new NotFoundError(`No enabled SAML provider named ${name}.`, 'identity_provider_not_found')
  return provider
}

/** Our SP metadata for the IdP administrator (entity id, ACS, signing certificate). */
export async function spMetadata(ctx: SsoContext, name: string): Promise<string> {
  const provider = await enabledProvider(ctx, name)
  return (await entitiesOf(provider, await secretsOf(ctx, provider), ctx.config)).sp.getMetadata()
}

/** Starts an SP-initiated sign-in: the URL to send the browser to. */
export async function startSamlLogin(
  ctx: SsoContext,
  name: string,
  returnTo: string | undefined,
  binding: string,
): Promise<string> {
  const provider = await enabledProvider(ctx, name)
  await ctx.throttle.hit('sso-login', ctx.audit.ip)
  const { sp, idp } = await entitiesOf(provider, await secretsOf(ctx, provider), ctx.config)
  const request = sp.createLoginRequest(idp, 'redirect') as { id: string; context: string }
  await saveHandshake(
    ctx.state,
    'saml-request',
    request.id,
    {
      provider: name,
      returnTo: safeReturnPath(returnTo, ctx.config.returnPaths),
      binding: hashBinding(binding),
    },
    ctx.config.handshakeTtlMs,
  )
  return request.context
}

/** The message against the SAML 2.0 schemas (xmllint), the first gate samlify also uses. */
async function schemaValid(xml: string) {
  try {
    await validateSamlSchema(xml)
  } catch (error) {
    throw new SamlRejection(
      'schema_invalid',
      `The response is not valid SAML: ${(error as Error).message.slice(0, 200)}`,
    )
  }
}

/** The request this response answers (sent from this browser), or an allowed unsolicited one. */
async function checkSolicitation(
  ctx: SsoContext,
  provider: IdentityProvider<'saml'>,
  assertion: VerifiedAssertion,
  browser: { binding: string; isNew: boolean },
  relayState: string | undefined,
): Promise<string> {
  if (!assertion.inResponseTo) {
    if (!provider.settings.allowIdpInitiated)
      throw new SamlRejection(
        'unsolicited',
        'Unsolicited (IdP-initiated) responses are not accepted by this provider.',
      )
    return safeReturnPath(relayState, ctx.config.returnPaths)
  }
  const request = await takeHandshake<SamlRequestRecord>(ctx.state, 'saml-request', assertion.inResponseTo)
  if (!request) throw new SamlRejection('unknown_request', 'The response answers no pending request of ours.')
  if (request.provider !== provider.name)
    throw new SamlRejection(
      'request_for_other_provider',
      'The response answers a request to another provider.',
    )
  if (browser.isNew || !sameBinding(request.binding, browser.binding))
    throw new SamlRejection(
      'browser_mismatch',
      'The response reached another browser than the one that signed in.',
    )
  return request.returnTo
}

function identityOf(provider: IdentityProvider<'saml'>, assertion: VerifiedAssertion): ExternalIdentity {
  const s = provider.settings
  if (assertion.nameIdFormat === transient)
    throw new SamlRejection(
      'transient_name_id',
      'A transient NameID cannot identify a user: use persistent or email.',
    )
  const attribute = (name: string) => assertion.attributes[name]?.[0]
  const emailFromNameId = assertion.nameIdFormat?.endsWith(':emailAddress') ? assertion.nameId : undefined
  return {
    externalId: assertion.nameId,
    email: attribute(s.attributes.email) ?? emailFromNameId,
    emailVerified: s.emailsVerified,
    displayName: attribute(s.attributes.displayName),
    groups: [],
    claims: assertion.attributes,
    mfaAsserted: assertion.authnContextClassRefs.some((c) => s.mfaContextClasses.includes(c)),
  }
}

/** The ACS: verifies a posted SAMLResponse and signs the user in; returns where to redirect. */
export async function acceptSamlResponse(
  ctx: SsoContext,
  name: string,
  form: { SAMLResponse: string; RelayState?: string | undefined },
  browser: { binding: string; isNew: boolean },
): Promise<string> {
  const provider = await enabledProvider(ctx, name)
  await ctx.throttle.hit('sso-response', ctx.audit.ip)
  let identity: ExternalIdentity
  let returnTo: string
  try {
    const encoded = form.SAMLResponse.replace(/\s+/g, '')
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded))
      throw new SamlRejection('malformed', 'SAMLResponse is not base64.')
    const xml = Buffer.from(encoded, 'base64').toString('utf8')
    const assertion = verifySamlResponse(xml, {
      idpEntityId: provider.settings.idpEntityId as string,
      certificates: provider.settings.idpCertificates ?? [],
      spEntityId: spEntityIdOf(provider, ctx.config) as string,
      acsUrl: acsUrlOf(name, ctx.config) as string,
      requireSigned: provider.settings.requireSigned,
      clockSkewMs: ctx.config.clockSkewMs,
    })
    await schemaValid(xml)
    const ttl = assertion.notOnOrAfter - Date.now() + ctx.config.clockSkewMs
    if (!(await rememberAssertion(ctx.state, name, assertion.assertionId, ttl)))
      throw new SamlRejection('replayed', 'This assertion was already used.')
    returnTo = await checkSolicitation(ctx, provider, assertion, browser, form.RelayState)
    identity = identityOf(provider, assertion)
  } catch (error) {
    if (!(error instanceof SamlRejection)) throw error
    await recordSsoFailure(ctx, provider, error.reason)
    ctx.log.warn('SAML response refused', { provider: name, reason: error.reason })
    throw new UnauthorizedError(error.message, 'saml_response_rejected')
  }
  const result = await completeSignIn(ctx, provider, identity)
  return redirectWithCode(ctx, name, result, returnTo, browser.binding)
}
