// Password hashing and rules (ASVS 5.0 V6): argon2id at the configured cost, upgrade on sign-in,
// length limits counted in characters, no composition rules, common passwords refused.
import { describe, expect, it } from 'vitest'
import { commonPasswords } from '../../src/auth/common-passwords.ts'
import { hashPassword, needsRehash, passwordProblem, verifyPassword } from '../../src/auth/passwords.ts'

const params = { memoryKib: 19456, iterations: 2, parallelism: 1 }
const rules = { minLength: 12 }

describe('argon2id', () => {
  it('hashes with the configured parameters and a fresh salt, and verifies', async () => {
    const a = await hashPassword('correct horse battery staple', params)
    const b = await hashPassword('correct horse battery staple', params)
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    expect(a).not.toBe(b)
    expect(await verifyPassword('correct horse battery staple', a)).toBe(true)
    expect(await verifyPassword('correct horse battery stapl', a)).toBe(false)
    expect(await verifyPassword('anything', 'not a hash')).toBe(false)
  })

  it('treats canonically equal Unicode the same (NFC)', async () => {
    const hash = await hashPassword('caf\u00e9 au lait, bitte', params)
    expect(await verifyPassword('cafe\u0301 au lait, bitte', hash)).toBe(true)
  })

  it('asks for a rehash when the configured cost rises, not when it is met', async () => {
    const hash = await hashPassword('correct horse battery staple', params)
    expect(needsRehash(hash, params)).toBe(false)
    expect(needsRehash(hash, { ...params, memoryKib: 65536 })).toBe(true)
    expect(needsRehash(hash, { ...params, iterations: 3 })).toBe(true)
    expect(needsRehash('$2b$12$bcrypt-from-elsewhere', params)).toBe(true)
  })
})

describe('password rules', () => {
  it('ships at least 10,000 common passwords long enough to pass the length rule', () => {
    expect(commonPasswords().size).toBeGreaterThanOrEqual(10_000)
    expect(commonPasswords().has('password1234')).toBe(true)
  })

  it('counts characters, allows 64 and more, sets no composition rules', () => {
    expect(passwordProblem('short pass', rules)).toMatch(/at least 12/)
    expect(passwordProblem('é'.repeat(12), rules)).toBeNull()
    expect(passwordProblem('all lower case words', rules)).toBeNull()
    expect(passwordProblem('a'.repeat(64) + ' and then some', rules)).toBeNull()
    expect(passwordProblem('a'.repeat(129), rules)).toMatch(/at most 128/)
    expect(passwordProblem('short pass', { minLength: 8 })).toBeNull()
  })

  it('refuses common passwords whatever their case, and the account’s own name', () => {
    expect(passwordProblem('PassWord1234', rules)).toMatch(/commonly used/)
    expect(passwordProblem('QWERTYUIOP', { minLength: 8 })).toMatch(/commonly used/)
    expect(passwordProblem('marianne-the-dba', rules, 'marianne@example.com')).toMatch(/email name/)
    expect(passwordProblem('marianne-the-dba', rules, 'jo@example.com')).toBeNull()
  })
})
