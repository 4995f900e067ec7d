// Schema shapes that every mainstream client generator reads (openapi-python-client,
// openapi-generator's Go and Java targets, openapi-typescript); docs/SDK_CLIENTS.md says why.
import { z } from '@hono/zod-openapi'

/** A named (registered) schema, or null. `Named.nullable()` makes zod-to-openapi turn the named
 * component itself into `type: ["object", "null"]` (everywhere it is used), which
 * openapi-python-client cannot process; this renders `anyOf: [{$ref}, {type: "null"}]`. */
export function orNull<T extends z.ZodType>(schema: T) {
  return z.union([schema, z.null()])
}

/** An optional field that, when absent, is `absent` parsed by `schema` (for an object, `{}` gives
 * each of its fields its own default): what `.default()` does, without a `default` in the
 * document. For defaults a generator cannot write in its language: openapi-generator's Go target
 * turns an object default into `var x T = {...}` and a union's into `var x U = false`, neither of
 * which compiles. Say the default in a description; a named schema stays a plain `$ref`. */
export function absentMeans<T extends z.ZodType>(schema: T, absent: z.input<T>) {
  return schema.optional().transform((value): z.output<T> => value ?? schema.parse(absent))
}
