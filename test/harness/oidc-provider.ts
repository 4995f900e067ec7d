// A real OIDC provider process (npm oidc-provider on Node, oidc-provider-server.mjs) on loopback,
// with its signing key generated here, and in front of it a small proxy in the test process whose
// issuer URL the service talks to: it passes everything through, except that a test may rewrite
// the next token response (an expired, tampered or foreign ID token, as a malicious network or
// provider would). `authorize` plays the browser at the provider: it follows the redirects, with
// the provider's cookies, until the provider sends the browser back to the service.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { LineLog } from './line-log.ts'
import { freePort, spawn, stopChild, waitForPort } from './processes.ts'

export type OidcAccount = { claims: Record<string, unknown>; amr?: string[] }
export type OidcClient = {
  client_id: string
  client_secret?: string
  redirect_uris: string[]
  token_endpoint_auth_method?: 'client_secret_basic' | 'none'
}

export type TestOidcProvider = {
  /** http://127.0.0.1:port/realms/pga (Keycloak's shape: baseUrl + /realms/ + realm). */
  issuer: string
  baseUrl: string
  realm: string
  /** The provider's signing key (private), to mint tokens a test needs. */
  signingJwk: JWK & { kid: string }
  /** Rewrites the next token response's JSON (once). */
  rewriteNextTokenResponse(
    rewrite: (body: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>,
  ): void
  /** Follows the provider's redirects as a browser would; returns the URL it sends the browser back to. */
  authorize(url: string, loginHint: string, returnTo: string): Promise<string>
  stop(): Promise<void>
}

const collect = (stream: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })

export async function startOidcProvider(options: {
  clients: OidcClient[]
  accounts: Record<string, OidcAccount>
}): Promise<TestOidcProvider> {
  const [providerPort, proxyPort] = [await freePort(), await freePort()]
  const realm = 'pga'
  const baseUrl = `http://127.0.0.1:${proxyPort}`
  const issuer = `${baseUrl}/realms/${realm}`
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const signingJwk = { ...(await exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' }
  const child = spawn(
    process.env.NODE_BINARY ?? 'node',
    [join(import.meta.dirname, 'oidc-provider-server.mjs')],
    {
      env: {
        PATH: process.env.PATH ?? '',
        OIDC_ISSUER: issuer,
        OIDC_PORT: String(providerPort),
        OIDC_CLIENTS: JSON.stringify(options.clients),
        OIDC_ACCOUNTS: JSON.stringify(options.accounts),
        OIDC_JWK: JSON.stringify(signingJwk),
        NODE_NO_WARNINGS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const log = new LineLog()
  log.follow(child.stdout)
  log.follow(child.stderr)
  let rewrite:
    | ((body: Record<string, unknown>) => Promise<Record<string, unknown>> | Record<string, unknown>)
    | null = null
  const proxy = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await collect(req)
    const upstream = httpRequest(
      { host: '127.0.0.1', port: providerPort, path: req.url, method: req.method, headers: req.headers },
      async (answer) => {
        let payload = await collect(answer)
        const headers = { ...answer.headers }
        if (req.url?.endsWith('/token') && rewrite && answer.statusCode === 200) {
          const change = rewrite
          rewrite = null
          payload = Buffer.from(JSON.stringify(await change(JSON.parse(payload.toString()))))
          headers['content-length'] = String(payload.length)
        }
        res.writeHead(answer.statusCode ?? 502, headers).end(payload)
      },
    )
    upstream.on('error', () => res.writeHead(502).end())
    upstream.end(body)
  })
  await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve))
  try {
    await waitForPort(providerPort, 30_000)
  } catch (error) {
    proxy.close()
    await stopChild(child)
    throw new Error(
      `oidc-provider did not start: ${(error as Error).message}\n${log.entries.map((e) => e.line).join('\n')}`,
    )
  }
  return {
    issuer,
    baseUrl,
    realm,
    signingJwk: signingJwk as JWK & { kid: string },
    rewriteNextTokenResponse: (change) => {
      rewrite = change
    },
    async authorize(url, loginHint, returnTo) {
      const jar = new Map<string, string>()
      let next = new URL(url)
      next.searchParams.set('login_hint', loginHint)
      for (let hop = 0; hop < 12; hop++) {
        const response = await fetch(next, {
          redirect: 'manual',
          headers: jar.size ? { Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } : {},
        })
        for (const cookie of response.headers.getSetCookie()) {
          const [pair] = cookie.split(';')
          const [name, ...value] = (pair as string).split('=')
          jar.set(name as string, value.join('='))
        }
        const location = response.headers.get('location')
        await response.arrayBuffer()
        if (!location)
          throw new Error(`the provider answered ${response.status} without a redirect at ${next}`)
        if (location.startsWith(returnTo)) return location
        next = new URL(location, next)
      }
      throw new Error('too many redirects at the provider')
    },
    async stop() {
      proxy.close()
      await stopChild(child)
    },
  }
}
