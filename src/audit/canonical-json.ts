// RFC 8785 JSON Canonicalization Scheme: object members sorted by their UTF-16 code units,
// no whitespace, numbers and strings serialised as ECMAScript's JSON.stringify does (which is
// what JCS prescribes). Hashes of audit entries are taken over this text, so any two
// implementations that follow the RFC agree on them.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('JCS cannot encode NaN or Infinity')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      // Default sort compares UTF-16 code units, exactly as RFC 8785 section 3.2.3 asks.
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  throw new TypeError(`JCS cannot encode a ${typeof value}`)
}
