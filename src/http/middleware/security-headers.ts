// Security headers, computed once (src/http/envelope.ts): every response gets the same small
// set, so building them per request (as hono/secure-headers does) is wasted work on the hot path.
import type { MiddlewareHandler } from 'hono'
import { securityHeaderEntries } from '../envelope.ts'

export function securityHeaders(): MiddlewareHandler {
  // Set before next(): Hono applies them when the response is built. Setting them on c.res
  // afterwards makes @hono/node-server materialise a full Response (+18 µs per request).
  // Not async: nothing to do after next(), and a promise per request costs more than the headers.
  return (c, next) => {
    for (const [name, value] of securityHeaderEntries) c.header(name, value)
    return next()
  }
}
