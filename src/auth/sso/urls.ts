// The URLs of a provider on this service, built from PGA_PUBLIC_URL: what an administrator gives
// the identity provider (SAML ACS and entity id, OIDC redirect URI) and what a login page links to.
import type { SsoConfig } from './config.ts'
import type { IdentityProvider } from './types.ts'

export const samlPath = (name: string, step: 'login' | 'acs' | 'metadata') =>
  `/api/v1/auth/saml/${name}/${step}`
export const oidcPath = (name: string, step: 'login' | 'callback') => `/api/v1/auth/oidc/${name}/${step}`
export const ldapLoginPath = (name: string) => `/api/v1/auth/ldap/${name}/login`

const absolute = (config: SsoConfig, path: string) => (config.publicUrl ? `${config.publicUrl}${path}` : null)

/** Our SAML entity id for a provider: its own, the service-wide one, or its metadata URL. */
export function spEntityIdOf(
  provider: Pick<IdentityProvider<'saml'>, 'name' | 'settings'>,
  config: SsoConfig,
) {
  return (
    provider.settings.spEntityId ??
    config.samlSpEntityId ??
    absolute(config, samlPath(provider.name, 'metadata'))
  )
}

export const acsUrlOf = (name: string, config: SsoConfig) => absolute(config, samlPath(name, 'acs'))
export const redirectUriOf = (name: string, config: SsoConfig) => absolute(config, oidcPath(name, 'callback'))

export function endpointsOf(provider: IdentityProvider, config: SsoConfig): Record<string, string | null> {
  switch (provider.type) {
    case 'ldap':
      return { login: ldapLoginPath(provider.name) }
    case 'saml':
      return {
        login: samlPath(provider.name, 'login'),
        acs: acsUrlOf(provider.name, config),
        metadata: absolute(config, samlPath(provider.name, 'metadata')),
        entityId: spEntityIdOf(provider as IdentityProvider<'saml'>, config),
      }
    case 'oidc':
      return { login: oidcPath(provider.name, 'login'), redirectUri: redirectUriOf(provider.name, config) }
  }
}
