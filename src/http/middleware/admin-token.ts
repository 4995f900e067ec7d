// Guards /api/v1/admin/* with PGA_ADMIN_TOKEN (Bearer) until user accounts and roles exist.
// Comparison is on SHA-256 digests in constant time, so neither length nor content leaks
// through timing. Without a configured token the admin API is off (403).
import { createHash, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import '../../audit/http-context.ts'
import { ForbiddenError, UnauthorizedError } from '../errors.ts'

const digest = (text: string) => createHash('sha256').update(text).digest()

export function requireAdminToken(token: string | undefined): MiddlewareHandler {
  const expected = token === undefined ? undefined : digest(token)
  return async (c, next) => {
    if (!expected)
      throw new ForbiddenError(
        'admin_api_disabled',
        'The admin API is disabled: set PGA_ADMIN_TOKEN to enable it.',
      )
    const header = c.req.header('Authorization') ?? ''
    const presented = /^Bearer (\S+)$/.exec(header)?.[1]
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      c.header('WWW-Authenticate', 'Bearer realm="pganalytics-admin"')
      throw new UnauthorizedError(
        'A valid admin token is required (Authorization: Bearer <PGA_ADMIN_TOKEN>).',
      )
    }
    c.set('actor', { type: 'admin_token', id: 'admin' })
    await next()
  }
}
