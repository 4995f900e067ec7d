// A real OpenID Connect provider (npm oidc-provider) for the tests, run by Node as its own process
// (test/harness/oidc-provider.ts starts it): clients, accounts and signing keys come from the
// environment; the issuer may carry a path (Keycloak's /realms/<name>); the login and consent
// interactions complete at once for the account named by login_hint, with the amr it lists.
import { createServer } from 'node:http'
import Provider from 'oidc-provider'

const issuer = process.env.OIDC_ISSUER
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS)
const provider = new Provider(issuer, {
  clients: JSON.parse(process.env.OIDC_CLIENTS),
  jwks: { keys: [JSON.parse(process.env.OIDC_JWK)] },
  findAccount: async (_ctx, id) =>
    accounts[id] ? { accountId: id, claims: async () => ({ sub: id, ...accounts[id].claims }) } : undefined,
  claims: {
    openid: ['sub'],
    amr: null,
    acr: null,
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
  interactions: {
    url: (_ctx, interaction) =>
      `${new URL(issuer).pathname.replace(/\/$/, '')}/interaction/${interaction.uid}`,
  },
  cookies: { keys: ['pga-test-oidc-cookie-key'] },
  pkce: { required: () => true },
})
const prefix = new URL(issuer).pathname.replace(/\/$/, '')
const handle = provider.callback()

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res)
  if (details.prompt.name === 'login') {
    const accountId = details.params.login_hint
    if (!accounts[accountId]) {
      res.writeHead(403).end('unknown account')
      return
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId, amr: accounts[accountId].amr ?? ['pwd'] } },
      { mergeWithLastSubmission: false },
    )
    return
  }
  const grant = new provider.Grant({
    accountId: details.session.accountId,
    clientId: details.params.client_id,
  })
  grant.addOIDCScope(details.params.scope)
  await provider.interactionFinished(
    req,
    res,
    { consent: { grantId: await grant.save() } },
    { mergeWithLastSubmission: true },
  )
}

createServer((req, res) => {
  if (prefix && req.url.startsWith(prefix)) {
    req.originalUrl = req.url
    req.url = req.url.slice(prefix.length) || '/'
  }
  if (/^\/interaction\/[^/?]+/.test(req.url))
    interaction(req, res).catch((error) => res.writeHead(500).end(String(error)))
  else handle(req, res)
}).listen(Number(process.env.OIDC_PORT), '127.0.0.1', () => process.stdout.write('listening\n'))
