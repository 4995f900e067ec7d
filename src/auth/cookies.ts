// Cookie sessions for browsers: the same tokens, in HttpOnly, Secure, SameSite=Strict cookies that
// scripts cannot read. The refresh cookie goes only to the refresh endpoint. Cross-site requests
// cannot carry the cookies (SameSite=Strict), and state-changing requests authenticated by cookie
// must also carry an X-Requested-With header, which a cross-site form cannot set.
import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import type { TokenResponse } from './sessions.ts'

export const accessCookie = 'pga_access'
export const refreshCookie = 'pga_refresh'
const refreshPath = '/api/v1/auth/refresh'

export function setSessionCookies(c: Context, tokens: TokenResponse, refreshMaxAgeSeconds: number) {
  const base = { httpOnly: true, secure: true, sameSite: 'Strict' } as const
  setCookie(c, accessCookie, tokens.access_token, { ...base, path: '/', maxAge: tokens.expires_in })
  setCookie(c, refreshCookie, tokens.refresh_token, {
    ...base,
    path: refreshPath,
    maxAge: refreshMaxAgeSeconds,
  })
  return { session_id: tokens.session_id, expires_in: tokens.expires_in }
}

export function clearSessionCookies(c: Context) {
  deleteCookie(c, accessCookie, { path: '/', secure: true })
  deleteCookie(c, refreshCookie, { path: refreshPath, secure: true })
}

export const accessTokenFromCookie = (c: Context) => getCookie(c, accessCookie)
export const refreshTokenFromCookie = (c: Context) => getCookie(c, refreshCookie)
