// A client-side limit on a promise: server-side timeouts cannot help when the peer never answers
// at all (a half-open TCP connection, a stopped VM, something that is not the expected server),
// so the caller gives up itself and tears the connection down. Shared by the collector, the
// instance connection test and the SSO clients.

export class DeadlineExceededError extends Error {
  readonly code = 'DEADLINE_EXCEEDED'
  constructor(ms: number) {
    super(`no answer within ${ms} ms`)
    this.name = 'DeadlineExceededError'
  }
}

/** Resolves like `work`, or rejects after `ms` having called `onTimeout` with the error (to tear
 * down the connection). */
export async function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: (error: DeadlineExceededError) => void,
): Promise<T> {
  // The abandoned work may still reject later; that must not become an unhandled rejection.
  work.catch(() => {})
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DeadlineExceededError(ms)
      onTimeout(error)
      reject(error)
    }, ms)
  })
  try {
    return await Promise.race([work, deadline])
  } finally {
    clearTimeout(timer)
  }
}
