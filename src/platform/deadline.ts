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

/** Waits until `work` has settled (its outcome is for whoever started it) or `ms` have passed;
 * resolves true when it settled. A stop() waits on a start under way with it. */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  const settled = await Promise.race([
    work.then(
      () => true as const,
      () => true as const,
    ),
    expired,
  ])
  clearTimeout(timer)
  return settled
}
