// OAuth 2.0 / OIDC providers as data: where each preset's issuer is (discovery does the rest),
// which settings it needs, its default scopes and the claims carrying email, name, username and
// groups. GitHub is OAuth 2.0 without OIDC: no issuer; user, emails, organizations and teams come
// from its API (github.ts).
import type { OidcSettings } from './settings.ts'

export type ClaimNames = { email: string; name: string; username: string; groups: string }

export type OidcPreset = {
  /** The issuer to discover from; null for GitHub (no OIDC). */
  issuer(settings: OidcSettings): string | null
  /** Settings the preset cannot do without. */
  requires: (keyof OidcSettings)[]
  scopes: string[]
  claims: ClaimNames
}

const standardClaims: ClaimNames = {
  email: 'email',
  name: 'name',
  username: 'preferred_username',
  groups: 'groups',
}
const trimSlash = (url: string | undefined) => (url ?? '').replace(/\/+$/, '')

export const oidcPresets: Record<OidcSettings['preset'], OidcPreset> = {
  generic: {
    issuer: (s) => trimSlash(s.issuer),
    requires: ['issuer'],
    scopes: ['openid', 'email', 'profile'],
    claims: standardClaims,
  },
  // No groups claim: map on hd (the Workspace domain) or email; hostedDomain restricts sign-in.
  google: {
    issuer: () => 'https://accounts.google.com',
    requires: [],
    scopes: ['openid', 'email', 'profile'],
    claims: { ...standardClaims, username: 'email' },
  },
  // A specific tenant (its id or domain), not common/organizations: the issuer must be exact.
  // Groups arrive as object ids in `groups` (or app roles in `roles`).
  entra: {
    issuer: (s) => `https://login.microsoftonline.com/${s.tenant}/v2.0`,
    requires: ['tenant'],
    scopes: ['openid', 'email', 'profile'],
    claims: standardClaims,
  },
  okta: {
    issuer: (s) => `https://${s.domain}/oauth2/${s.authorizationServer ?? 'default'}`,
    requires: ['domain'],
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: standardClaims,
  },
  keycloak: {
    issuer: (s) => `${trimSlash(s.baseUrl)}/realms/${s.realm}`,
    requires: ['baseUrl', 'realm'],
    scopes: ['openid', 'email', 'profile'],
    claims: standardClaims,
  },
  github: {
    issuer: () => null,
    requires: [],
    scopes: ['read:user', 'user:email', 'read:org'],
    claims: { email: 'email', name: 'name', username: 'login', groups: 'teams' },
  },
}

/** The effective values of a provider's settings: its own over its preset's. */
export function effectiveOidc(settings: OidcSettings) {
  const preset = oidcPresets[settings.preset]
  return {
    issuer: preset.issuer(settings),
    scopes: settings.scopes ?? preset.scopes,
    claims: { ...preset.claims, ...settings.claims },
    apiBaseUrl: trimSlash(settings.apiBaseUrl ?? 'https://api.github.com'),
    webBaseUrl: trimSlash(settings.webBaseUrl ?? 'https://github.com'),
  }
}
