// Local passwords: argon2id at or above the OWASP/ASVS parameters, rehashed on sign-in when the
// configured parameters rise; and the ASVS 5.0 rules for choosing one: a minimum length (12 by
// default, never under 8), up to 128 characters, no composition rules, not a common or breached
// password. The hashing itself runs off the event loop (password-hashing.ts): on the hasher the
// runtime installs (the binary: Bun.password), else on a worker_threads pool running hash-wasm.
import { availableParallelism } from 'node:os'
import { commonPasswords } from './common-passwords.ts'
import {
  type Argon2Params,
  argon2idHashProblem,
  limitPending,
  type PasswordHasher,
  pendingPerThread,
  workerPoolHasher,
} from './password-hashing.ts'

export type { Argon2Params } from './password-hashing.ts'
export type PasswordRules = { minLength: number }

export const maxPasswordLength = 128

let hasher: PasswordHasher | undefined
const defaultMaxPending = () => pendingPerThread * availableParallelism()

/** Makes `inner` (the runtime's own, such as Bun.password) the process's password hasher, with at
 * most `maxPending` hashes running or waiting. */
export async function usePasswordHasher(
  inner: PasswordHasher,
  maxPending = defaultMaxPending(),
): Promise<void> {
  await hasher?.close()
  hasher = limitPending(inner, maxPending)
}

/** Stops the hashing threads (at shutdown); a later hash starts a new worker pool. */
export async function closePasswordHashing(): Promise<void> {
  const closing = hasher
  hasher = undefined
  await closing?.close()
}

// Nothing starts at import: the pool's threads start with the first hash.
const activeHasher = () => (hasher ??= limitPending(workerPoolHasher(), defaultMaxPending()))

export async function hashPassword(password: string, params: Argon2Params): Promise<string> {
  return activeHasher().hash(password.normalize('NFC'), params)
}

/** False for a wrong password and for a stored hash that is not an argon2id PHC string (see
 * argon2idHashProblem for why); throws only when hashing itself fails or is refused as busy. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (argon2idHashProblem(encoded) !== null) return false
  return activeHasher().verify(password.normalize('NFC'), encoded)
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
