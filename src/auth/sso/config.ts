// Enterprise sign-in's section of the configuration: where providers may also be declared (a
// file, for GitOps and Helm), how browsers and identity providers reach the service (SAML ACS,
// OIDC redirect URIs), timeouts, clock skew, where a finished sign-in may send the browser, and
// whether this replica runs directory syncs. Composed into src/config.ts.
import {
  boolean,
  commaList,
  defineVariables,
  duration,
  optional,
  type ParsedVariables,
  refine,
  text,
  url,
} from '../../config-kit.ts'
import { hasControlCharacters } from './text.ts'

/** A relative path on this service: "/", "/app/"; never "//host" or "/\host". */
export const isSafeRelativePath = (path: string) =>
  /^\/(?![/\\])[^\s\\#]*$/.test(path) && !hasControlCharacters(path)

export const ssoVariables = defineVariables({
  PGA_IDENTITY_PROVIDERS_FILE: {
    parser: optional(text),
    default: undefined,
    example: '/etc/pganalytics/identity-providers.yaml',
    doc: 'JSON or YAML file declaring identity providers at start-up (GitOps, Helm): they are created or updated to match, removed when no longer declared, and read-only through the API. Secrets by reference: {"file": "/run/secrets/x"} or {"env": "VAR"}. See docs/LDAP_INTEGRATION.md.',
  },
  PGA_PUBLIC_URL: {
    parser: optional(url(['http:', 'https:'])),
    default: undefined,
    example: 'https://pganalytics.example.com',
    doc: 'The service’s URL as browsers and identity providers reach it (scheme, host, optional port and path prefix). Required for SAML and OIDC providers: the ACS URL, SP entity id and OIDC redirect URI are built from it.',
  },
  PGA_SAML_SP_ENTITY_ID: {
    parser: optional(text),
    default: undefined,
    example: 'https://pganalytics.example.com/saml',
    doc: 'SAML entity id of this service for every SAML provider (a provider may set its own spEntityId). Unset: each provider’s metadata URL, PGA_PUBLIC_URL/api/v1/auth/saml/{name}/metadata.',
  },
  PGA_SSO_CLOCK_SKEW: {
    parser: duration,
    default: '60s',
    example: '2m',
    doc: 'Clock difference tolerated with identity providers: SAML NotBefore/NotOnOrAfter, OIDC ID token exp/iat.',
  },
  PGA_SSO_HANDSHAKE_TTL: {
    parser: duration,
    default: '10m',
    example: '5m',
    doc: 'How long a started SAML or OIDC sign-in may take at the identity provider (request id, state, nonce and PKCE verifier in the state store, used once).',
  },
  PGA_SSO_RETURN_PATHS: {
    parser: refine(
      commaList,
      (paths) => paths.length > 0 && paths.every(isSafeRelativePath),
      'a comma-separated list of relative paths starting with /',
    ),
    default: '/',
    example: '/app/,/docs',
    doc: 'Path prefixes a finished SAML or OIDC sign-in may send the browser back to (RelayState, returnTo); anything else goes to the first one. Relative only: no open redirect.',
  },
  PGA_SSO_HTTP_TIMEOUT: {
    parser: duration,
    default: '5s',
    example: '10s',
    doc: 'Timeout of each request to an identity provider: OIDC discovery, JWKS, token and userinfo endpoints, the GitHub API, SAML metadata URLs.',
  },
  PGA_LDAP_TIMEOUT: {
    parser: duration,
    default: '5s',
    example: '3s',
    doc: 'Connect and operation timeout towards a directory whose provider sets no timeoutMs: a directory that is down answers 503 identity_provider_unavailable within it.',
  },
  PGA_SSO_SYNC_ENABLED: {
    parser: boolean,
    default: 'true',
    example: 'false',
    doc: 'Run scheduled directory syncs (LDAP providers with sync enabled) in this replica; one replica at a time does each, through a lease.',
  },
})

export type SsoConfig = {
  providersFile?: string
  publicUrl?: string
  samlSpEntityId?: string
  clockSkewMs: number
  handshakeTtlMs: number
  returnPaths: string[]
  httpTimeoutMs: number
  ldapTimeoutMs: number
  syncEnabled: boolean
}

/** The SSO section of Config from its parsed variables. */
export function ssoConfig(e: ParsedVariables<typeof ssoVariables>): SsoConfig {
  return {
    ...(e.PGA_IDENTITY_PROVIDERS_FILE ? { providersFile: e.PGA_IDENTITY_PROVIDERS_FILE } : {}),
    ...(e.PGA_PUBLIC_URL ? { publicUrl: e.PGA_PUBLIC_URL.replace(/\/+$/, '') } : {}),
    ...(e.PGA_SAML_SP_ENTITY_ID ? { samlSpEntityId: e.PGA_SAML_SP_ENTITY_ID } : {}),
    clockSkewMs: e.PGA_SSO_CLOCK_SKEW,
    handshakeTtlMs: e.PGA_SSO_HANDSHAKE_TTL,
    returnPaths: e.PGA_SSO_RETURN_PATHS,
    httpTimeoutMs: e.PGA_SSO_HTTP_TIMEOUT,
    ldapTimeoutMs: e.PGA_LDAP_TIMEOUT,
    syncEnabled: e.PGA_SSO_SYNC_ENABLED,
  }
}
