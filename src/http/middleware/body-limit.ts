// Request-body size limit (413 problem+json above it), applied only to methods that carry a
// body. A declared Content-Length is checked here from the header; only bodies without one
// (chunked) are counted while streaming, by hono's bodyLimit. hono's middleware touches the body
// stream first in every case, which on Node replaces the fast request with a full one: 4x
// slower POSTs (measured in docs/PERFORMANCE.md).
import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { PayloadTooLargeError } from '../errors.ts'

const methodsWithBody = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export function limitRequestBody(maxBytes: number): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new PayloadTooLargeError(maxBytes)
    },
  })
  return (c, next) => {
    if (!methodsWithBody.has(c.req.method)) return next()
    const declared = c.req.header('content-length')
    if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
      if (Number(declared) > maxBytes) throw new PayloadTooLargeError(maxBytes)
      return next()
    }
    return limit(c, next)
  }
}
