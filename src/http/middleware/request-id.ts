// Request id: reuse a well-formed incoming X-Request-Id (so ids follow a request across a proxy),
// otherwise mint one. Echoed on the response and put on every log line and problem body.
import type { MiddlewareHandler } from 'hono'
import type { Logger } from '../../platform/log.ts'
import { requestIdFor, requestIdHeader } from '../envelope.ts'

declare module 'hono' {
  interface ContextVariableMap {
    requestId: string
    log: Logger
  }
}

export function requestId(options: { log: Logger }): MiddlewareHandler {
  // Not async: nothing to do after next().
  return (c, next) => {
    const id = requestIdFor(c.req.header(requestIdHeader))
    c.set('requestId', id)
    c.set('log', options.log.child({ requestId: id }))
    c.header(requestIdHeader, id)
    return next()
  }
}
