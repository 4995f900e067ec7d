// The one error type the object store adapters throw for a failed request. It keeps the store,
// the operation, the key, the HTTP status and the service's error code, and never the SDK's
// error object: those carry the request (URL with a SAS signature, Authorization header) and
// server details (AuthenticationErrorDetail, StringToSign). Its text is scrubbed of the
// credentials the adapter was given, in case a server echoes one back.
export class BlobStoreError extends Error {
  override name = 'BlobStoreError'
  constructor(
    message: string,
    /** HTTP status, when the service answered. */
    readonly status?: number,
    /** The service's error code (NoSuchBucket, AuthenticationFailed, ...) or a system one (ECONNREFUSED). */
    readonly code?: string,
  ) {
    super(message)
  }
}

/** Patterns that look like a signature or a key wherever they appear. */
const credentialPatterns: [RegExp, string][] = [
  [/\b(sig|signature|x-amz-signature|x-goog-signature)=[^&\s'";]+/gi, '$1=[redacted]'],
  [/\b(AccountKey|SharedAccessSignature)=[^;\s'"]+/gi, '$1=[redacted]'],
  [/\bSharedKey(Lite)? [^\s'",]+/g, 'SharedKey$1 [redacted]'],
  [/\bAWS4-HMAC-SHA256 [^'"\n]+/g, 'AWS4-HMAC-SHA256 [redacted]'],
]

/** Removes the given secrets (and their URL-encoded forms) and anything that looks like a signature. */
export function scrubCredentials(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) {
    if (secret.length < 4) continue
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('[redacted]')
  }
  for (const [pattern, replacement] of credentialPatterns) out = out.replace(pattern, replacement)
  return out
}

type SdkErrorShape = {
  name?: unknown
  message?: unknown
  code?: unknown
  statusCode?: unknown
  details?: { errorCode?: unknown }
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown }
}

/**
 * Turns whatever an SDK threw into a BlobStoreError: `what` says where and what (no secrets),
 * the SDK's message is cut to its first line (Azure puts the request id and time on the next
 * ones, real Azure an AuthenticationErrorDetail after them) and scrubbed.
 */
export function blobStoreError(what: string, error: unknown, secrets: readonly string[]): BlobStoreError {
  if (error instanceof BlobStoreError) return error
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape
  const status =
    typeof e.statusCode === 'number'
      ? e.statusCode
      : typeof e.$metadata?.httpStatusCode === 'number'
        ? e.$metadata.httpStatusCode
        : undefined
  const rawCode = e.details?.errorCode ?? e.code ?? (e.$metadata ? e.name : undefined)
  const code = typeof rawCode === 'string' && rawCode ? rawCode : undefined
  const message = typeof e.message === 'string' ? e.message : String(error)
  const firstLine = message.split('\n')[0]?.trim() ?? ''
  const requestId = /RequestId:([\w-]+)/.exec(message)?.[1] ?? e.$metadata?.requestId
  const parts = [
    status !== undefined || code ? `(${[status, code].filter((p) => p !== undefined).join(' ')})` : '',
    firstLine,
    typeof requestId === 'string' && requestId ? `[request id ${requestId}]` : '',
  ].filter(Boolean)
  const text = `${what} failed${parts.length ? `: ${parts.join(' ')}` : ''}`
  return new BlobStoreError(scrubCredentials(text, secrets), status, code)
}
