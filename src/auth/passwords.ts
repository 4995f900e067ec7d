// Local passwords: argon2id (hash-wasm, WebAssembly, so the same code runs in Node, Bun and the
// compiled binary) at or above the OWASP/ASVS parameters, rehashed on sign-in when the configured
// parameters rise; and the ASVS 5.0 rules for choosing one: a minimum length (12 by default, never
// under 8), up to 128 characters, no composition rules, not a common or breached password.
import { argon2id, argon2Verify } from 'hash-wasm'
import { commonPasswords } from './common-passwords.ts'

export type Argon2Params = { memoryKib: number; iterations: number; parallelism: number }
export type PasswordRules = { minLength: number }

export const maxPasswordLength = 128

export async function hashPassword(password: string, params: Argon2Params): Promise<string> {
  return argon2id({
    password: password.normalize('NFC'),
    salt: crypto.getRandomValues(new Uint8Array(16)),
    memorySize: params.memoryKib,
    iterations: params.iterations,
    parallelism: params.parallelism,
    hashLength: 32,
    outputType: 'encoded',
  })
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  try {
    return await argon2Verify({ password: password.normalize('NFC'), hash: encoded })
  } catch {
    return false
  }
}

/** True when the stored hash was made with weaker parameters than the configured ones. */
export function needsRehash(encoded: string, params: Argon2Params): boolean {
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(encoded)
  if (!match) return true
  const [m, t, p] = match.slice(1).map(Number) as [number, number, number]
  return m < params.memoryKib || t < params.iterations || p !== params.parallelism
}

/** Why a new password is refused, or null. Length counts characters (code points), not bytes. */
export function passwordProblem(password: string, rules: PasswordRules, email?: string): string | null {
  const length = [...password.normalize('NFC')].length
  if (length < rules.minLength) return `must be at least ${rules.minLength} characters`
  if (length > maxPasswordLength) return `must be at most ${maxPasswordLength} characters`
  const lower = password.toLowerCase()
  if (commonPasswords().has(lower)) return 'is a commonly used password; choose another'
  const local = email?.toLowerCase().split('@')[0]
  if (email && (lower === email.toLowerCase() || (local && local.length >= 4 && lower.includes(local))))
    return 'must not contain the account’s email name'
  return null
}
