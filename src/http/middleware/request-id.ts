// Request id: reuse a well-formed incoming X-Request-Id (so ids follow a request across a proxy),
// otherwise mint one. Echoed on the response and put on every log line and problem body.
import type { MiddlewareHandler } from 'hono'
import type { Logger } from '../../platform/log.ts'

declare module 'hono' {
  interface ContextVariableMap {
    requestId: string
    log: Logger
  }
}

const wellFormed = /^[A-Za-z0-9._:-]{8,128}$/

export function requestId(options: { log: Logger; header?: string }): MiddlewareHandler {
  const header = options.header ?? 'X-Request-Id'
  // Not async: nothing to do after next().
  return (c, next) => {
    const incoming = c.req.header(header)
    const id = incoming && wellFormed.test(incoming) ? incoming : crypto.randomUUID()
    c.set('requestId', id)
    c.set('log', options.log.child({ requestId: id }))
    c.header(header, id)
    return next()
  }
}
