// The one error family. Services throw ServiceError subclasses; app.onError maps them (and
// anything else) to RFC 9457 problem+json. `code` is stable and documented; messages may change.
export type FieldProblem = { path: string; message: string }

export class ServiceError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly title: string,
    detail?: string,
    readonly extra: { errors?: FieldProblem[]; retryAfterSeconds?: number } = {},
  ) {
    super(detail ?? title)
    this.name = 'ServiceError'
  }
}

export class ValidationError extends ServiceError {
  constructor(errors: FieldProblem[], detail = 'The request is not valid.') {
    super('validation_failed', 400, 'Request validation failed', detail, { errors })
  }
}
export class NotFoundError extends ServiceError {
  constructor(detail = 'The resource does not exist.', code = 'not_found') {
    super(code, 404, 'Not found', detail)
  }
}
/** A well-formed request the service cannot answer as asked (a range too wide, ...). */
export class BadRequestError extends ServiceError {
  constructor(code: string, detail: string, errors?: FieldProblem[]) {
    super(code, 400, 'Bad request', detail, errors ? { errors } : {})
  }
}
export class UnauthorizedError extends ServiceError {
  constructor(detail = 'Authentication is required.', code = 'unauthorized') {
    super(code, 401, 'Unauthorized', detail)
  }
}
export class ForbiddenError extends ServiceError {
  constructor(code: string, detail: string) {
    super(code, 403, 'Forbidden', detail)
  }
}
export class ConflictError extends ServiceError {
  constructor(code: string, detail: string) {
    super(code, 409, 'Conflict', detail)
  }
}
/** A known path asked with a method it does not serve; `allow` lists the ones it does. */
export class MethodNotAllowedError extends ServiceError {
  constructor(
    method: string,
    path: string,
    readonly allow: string[],
  ) {
    super(
      'method_not_allowed',
      405,
      'Method not allowed',
      `${path} does not serve ${method}; it serves ${allow.join(', ')}.`,
    )
  }
}
export class PayloadTooLargeError extends ServiceError {
  constructor(limit: number) {
    super('payload_too_large', 413, 'Payload too large', `The request body exceeds ${limit} bytes.`)
  }
}
export class UnavailableError extends ServiceError {
  constructor(code: string, detail: string, retryAfterSeconds?: number) {
    super(
      code,
      503,
      'Service unavailable',
      detail,
      retryAfterSeconds === undefined ? {} : { retryAfterSeconds },
    )
  }
}

/** The problem+json body (RFC 9457) with our `code` and `requestId` extensions. */
export type Problem = {
  type: string
  title: string
  status: number
  detail?: string
  instance?: string
  code: string
  requestId?: string
  errors?: FieldProblem[]
}

export const problemType = (code: string) => `https://pganalytics.dev/problems/${code.replaceAll('_', '-')}`
export class TooManyRequestsError extends ServiceError {
  constructor(code: string, detail: string, retryAfterSeconds: number) {
    super(code, 429, 'Too many requests', detail, {
      retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)),
    })
  }
}
