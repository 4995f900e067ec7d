// A stand-in for GitHub (github.com cannot be reached from here): the OAuth 2.0 web flow
// (/login/oauth/authorize, /login/oauth/access_token, with PKCE checked) and the REST API the
// sign-in reads (/api/v3/user, /user/emails, /user/orgs, /user/teams, /meta), shaped as GitHub
// Enterprise Server answers them. Users, organizations and teams come from the test.
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'

export type GitHubTestUser = {
  id: number
  login: string
  name: string | null
  emails: { email: string; primary: boolean; verified: boolean }[]
  orgs: string[]
  teams: { org: string; slug: string }[]
}

export type GitHubStandIn = {
  webBaseUrl: string
  apiBaseUrl: string
  /** The authorize step: the browser is sent back to `redirect_uri` with a code for `login`. */
  authorize(url: string, login: string): string
  stop(): Promise<void>
}

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = ''
    req.on('data', (c) => {
      text += c
    })
    req.on('end', () => resolve(text))
  })

export async function startGitHubStandIn(options: {
  clientId: string
  clientSecret: string
  users: GitHubTestUser[]
}): Promise<GitHubStandIn> {
  const codes = new Map<string, { login: string; challenge: string; redirectUri: string }>()
  const tokens = new Map<string, GitHubTestUser>()
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in')
    const json = (status: number, value: unknown) =>
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value))
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const form = new URLSearchParams(await body(req))
      const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString()
      const grant = codes.get(form.get('code') ?? '')
      codes.delete(form.get('code') ?? '')
      const verifier = form.get('code_verifier') ?? ''
      const challenge = createHash('sha256').update(verifier).digest('base64url')
      if (basic !== `${options.clientId}:${options.clientSecret}`)
        return json(401, { error: 'invalid_client' })
      if (!grant || grant.challenge !== challenge || grant.redirectUri !== form.get('redirect_uri'))
        return json(400, { error: 'bad_verification_code' })
      const token = `gho_${randomBytes(18).toString('hex')}`
      tokens.set(token, options.users.find((u) => u.login === grant.login) as GitHubTestUser)
      return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email,read:org' })
    }
    if (url.pathname === '/api/v3/meta') return json(200, { verifiable_password_authentication: false })
    const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    if (!user) return json(401, { message: 'Bad credentials' })
    switch (url.pathname) {
      case '/api/v3/user':
        return json(200, { id: user.id, login: user.login, name: user.name, email: null })
      case '/api/v3/user/emails':
        return json(200, user.emails)
      case '/api/v3/user/orgs':
        return json(
          200,
          user.orgs.map((login) => ({ login })),
        )
      case '/api/v3/user/teams':
        return json(
          200,
          user.teams.map((t) => ({ slug: t.slug, organization: { login: t.org } })),
        )
      default:
        return json(404, { message: 'Not Found' })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    webBaseUrl: base,
    apiBaseUrl: `${base}/api/v3`,
    authorize(authorizeUrl, login) {
      const params = new URL(authorizeUrl).searchParams
      if (params.get('client_id') !== options.clientId) throw new Error('unknown client')
      if (params.get('code_challenge_method') !== 'S256') throw new Error('no PKCE')
      const code = randomBytes(10).toString('hex')
      const redirectUri = params.get('redirect_uri') as string
      codes.set(code, { login, challenge: params.get('code_challenge') as string, redirectUri })
      return `${redirectUri}?code=${code}&state=${encodeURIComponent(params.get('state') ?? '')}`
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
