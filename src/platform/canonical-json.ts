// RFC 8785 JSON Canonicalization Scheme: object members sorted by their UTF-16 code units,
// no whitespace, numbers and strings serialised as ECMAScript's JSON.stringify does (which is
// what JCS prescribes). Hashes of audit entries are taken over this text, so any two
// implementations that follow the RFC agree on them. Written with plain loops and string
// concatenation: the sealer and verification run it once per entry (Object.entries + sort + map
// + join cost three times as much).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('JCS cannot encode NaN or Infinity')
      return JSON.stringify(value)
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i] ?? null)
        return `${out}]`
      }
      const object = value as Record<string, unknown>
      // Default sort compares UTF-16 code units, exactly as RFC 8785 section 3.2.3 asks.
      const keys = Object.keys(object).sort()
      let out = '{'
      for (const key of keys) {
        const member = object[key]
        if (member === undefined) continue
        out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${canonicalJson(member)}`
      }
      return `${out}}`
    }
  }
  throw new TypeError(`JCS cannot encode a ${typeof value}`)
}
