// Password hashing and rules (ASVS 5.0 V6): argon2id at the configured cost, upgrade on sign-in,
// length limits counted in characters, no composition rules, common passwords refused.
import { readdirSync, readFileSync } from 'node:fs'
import { argon2id, argon2Verify } from 'hash-wasm'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { commonPasswords } from '../../src/auth/common-passwords.ts'
import {
  argon2idHashProblem,
  limitPending,
  type PasswordHasher,
  workerPoolHasher,
} from '../../src/auth/password-hashing.ts'
import {
  closePasswordHashing,
  hashPassword,
  needsRehash,
  passwordProblem,
  verifyPassword,
} from '../../src/auth/passwords.ts'
import { ServiceError } from '../../src/http/errors.ts'

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

afterAll(() => closePasswordHashing())

// Stored hashes of this password made elsewhere: by Bun.password (the binary; 32-byte salt), by
// hash-wasm on the event loop (every hash stored before hashing moved off it), and bcrypt (which
// Bun.password would accept, so it must be refused before it gets there).
const storedPassword = 'Grüße aus der Wüste, horse'
const stored = {
  bunPassword:
    '$argon2id$v=19$m=19456,t=2,p=1$hLwDP7IbGLXoCyaBzaN8UePQVw/9U/kR2Z3AVCuhLus$D2AQ5h5yVp/U1EFLMDD7OiFv9DSxsOJIAsrSyqzdPSY',
  hashWasm:
    '$argon2id$v=19$m=19456,t=2,p=1$HKyviD+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk',
  bcrypt: '$2b$10$flaV5J.iizZlOmL1A6MyM.1n8GQT9EFX01o8F4SY4OZq.6FLRoGoq',
}

describe('argon2id off the event loop', () => {
  it('verifies hashes stored by Bun.password and by hash-wasm on the event loop, and refuses wrong passwords', async () => {
    expect(await verifyPassword(storedPassword, stored.bunPassword)).toBe(true)
    expect(await verifyPassword(storedPassword, stored.hashWasm)).toBe(true)
    // The same text in decomposed form is the same password (NFC before hashing, on every path).
    expect(await verifyPassword(storedPassword.normalize('NFD'), stored.bunPassword)).toBe(true)
    expect(await verifyPassword('Grüße aus der Wüste, hors', stored.bunPassword)).toBe(false)
    expect(await verifyPassword('Grüße aus der Wüste, hors', stored.hashWasm)).toBe(false)
  })

  it('makes hashes that hash-wasm on the calling thread verifies, and verifies hashes made there', async () => {
    const made = await hashPassword('correct horse battery staple', params)
    expect(await argon2Verify({ password: 'correct horse battery staple', hash: made })).toBe(true)
    const onThisThread = await argon2id({
      password: 'correct horse battery staple',
      salt: new Uint8Array(16).fill(7),
      memorySize: params.memoryKib,
      iterations: params.iterations,
      parallelism: params.parallelism,
      hashLength: 32,
      outputType: 'encoded',
    })
    expect(await verifyPassword('correct horse battery staple', onThisThread)).toBe(true)
    expect(await verifyPassword('correct horse battery stapler', onThisThread)).toBe(false)
  })

  it('refuses a stored hash that is not an argon2id PHC string, saying why, without hashing', async () => {
    const cases: [string, RegExp][] = [
      [stored.bcrypt, /not an argon2id hash/],
      ['', /not an argon2id hash/],
      [
        '$argon2i$v=19$m=19456,t=2,p=1$HKyviD+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk',
        /not an argon2id/,
      ],
      [
        '$argon2id$v=19$m=19456,t=2$HKyviD+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk',
        /not a PHC string/,
      ],
      ['$argon2id$v=19$m=19456,t=2,p=1$HKyviD+UKx6anfzka2PguQ$', /not a PHC string/],
      [
        '$argon2id$v=19$m=19456,t=2,p=1$HKyv!D+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6',
        /not a PHC string/,
      ],
      [
        '$argon2id$v=16$m=19456,t=2,p=1$HKyviD+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk',
        /version 16/,
      ],
      [
        '$argon2id$v=19$m=99999999,t=2,p=1$HKyviD+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk',
        /memory/,
      ],
      [
        '$argon2id$v=19$m=19456,t=0,p=1$HKyviD+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk',
        /passes/,
      ],
      [
        '$argon2id$v=19$m=19456,t=2,p=0$HKyviD+UKx6anfzka2PguQ$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk',
        /lane/,
      ],
      ['$argon2id$v=19$m=19456,t=2,p=1$AAAA$yIYo4yh9kNqhYkBqbDmMsWuRalXI6/dZbPo+y0ofLDk', /salt/],
      ['$argon2id$v=19$m=19456,t=2,p=1$HKyviD+UKx6anfzka2PguQ$yIYo', /hash must be at least 4 bytes/],
    ]
    for (const [encoded, why] of cases) {
      expect(argon2idHashProblem(encoded), encoded).toMatch(why)
      expect(await verifyPassword(storedPassword, encoded), encoded).toBe(false)
    }
    expect(argon2idHashProblem(stored.bunPassword)).toBeNull()
    expect(argon2idHashProblem(stored.hashWasm)).toBeNull()
  })

  it('answers many verifications in parallel, each correctly, on no more threads than asked', async () => {
    const pool = workerPoolHasher({ size: 2 })
    try {
      const checks = Array.from({ length: 12 }, (_, i) => ({
        password: i % 3 === 0 ? `${storedPassword}!` : storedPassword,
        encoded: i % 2 === 0 ? stored.bunPassword : stored.hashWasm,
      }))
      const results = await Promise.all(checks.map((c) => pool.verify(c.password, c.encoded)))
      expect(results).toEqual(checks.map((c) => c.password === storedPassword))
      expect(pool.threads).toBe(2)
    } finally {
      await pool.close()
    }
    expect(pool.threads).toBe(0)
  })

  it('keeps the event loop turning while hashes run, and spends their CPU on other threads', async () => {
    await hashPassword('warm the pool up first', params)
    // A timer rather than a setImmediate spin, which would itself keep the loop's thread busy.
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    // CPU time (Linux, clock ticks) of the event loop's thread and of the whole process.
    const cpu = (path: string) => {
      const stat = readFileSync(path, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return Number(fields[11]) + Number(fields[12])
    }
    const loopThread = `/proc/self/task/${process.pid}/stat`
    const [loopBefore, allBefore] = [cpu(loopThread), cpu('/proc/self/stat')]
    await Promise.all(Array.from({ length: 4 }, (_, i) => hashPassword(`correct horse ${i}`, params)))
    const [loopUsed, allUsed] = [cpu(loopThread) - loopBefore, cpu('/proc/self/stat') - allBefore]
    clearInterval(timer)
    expect(ticks).toBeGreaterThan(0)
    // On the loop (hash-wasm called in place) the loop's thread would carry nearly all of it.
    expect(allUsed).toBeGreaterThan(0)
    expect(loopUsed).toBeLessThan(allUsed / 2)
  })

  it('hashes on threads that yield the CPU to the event loop (nice 10 on Linux)', async () => {
    const niceOf = (tid: string | number) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
    }
    const niceOfThreads = () => readdirSync('/proc/self/task').map(niceOf)
    const before = niceOfThreads().filter((nice) => nice === 10).length
    const pool = workerPoolHasher({ size: 2 })
    try {
      await Promise.all([pool.verify(storedPassword, stored.hashWasm), pool.verify('x', stored.hashWasm)])
      expect(pool.threads).toBe(2)
      expect(niceOfThreads().filter((nice) => nice === 10).length - before).toBe(2)
      // The event loop's own thread keeps its priority.
      expect(niceOf(process.pid)).toBe(0)
    } finally {
      await pool.close()
    }
  })

  it('refuses work beyond the bound with 503 password_hashing_busy, and takes it again once there is room', async () => {
    const pool = workerPoolHasher({ size: 1 })
    const bounded: PasswordHasher = limitPending(pool, 2)
    try {
      const first = bounded.verify(storedPassword, stored.hashWasm)
      const second = bounded.verify('wrong', stored.hashWasm)
      const refused = await bounded.verify(storedPassword, stored.hashWasm).catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(ServiceError)
      expect(refused).toMatchObject({
        code: 'password_hashing_busy',
        status: 503,
        extra: { retryAfterSeconds: 1 },
      })
      expect(await Promise.all([first, second])).toEqual([true, false])
      expect(await bounded.verify(storedPassword, stored.hashWasm)).toBe(true)
    } finally {
      await bounded.close()
    }
  })

  it('refuses queued and later work once closed, clearly', async () => {
    const pool = workerPoolHasher({ size: 1 })
    const running = pool.verify(storedPassword, stored.hashWasm).catch((error: Error) => error)
    const queued = pool.verify(storedPassword, stored.hashWasm).catch((error: Error) => error)
    await pool.close()
    expect(await queued).toMatchObject({ message: 'password hashing has stopped' })
    expect(await running).toMatchObject({ message: expect.stringMatching(/thread stopped/) })
    await expect(pool.hash('x', params)).rejects.toThrow(/password hashing has stopped/)
    expect(pool.threads).toBe(0)
  })

  it('ends a thread left idle, and starts one again for the next hash', async () => {
    const pool = workerPoolHasher({ size: 1, idleMs: 100 })
    try {
      expect(await pool.verify(storedPassword, stored.hashWasm)).toBe(true)
      await vi.waitFor(() => expect(pool.threads).toBe(0), { timeout: 30_000, interval: 50 })
      expect(await pool.verify(storedPassword, stored.hashWasm)).toBe(true)
      expect(pool.threads).toBe(1)
    } finally {
      await pool.close()
    }
  })

  it('gives work that arrives while an idle thread is ending to another thread, not to the ending one', async () => {
    const pool = workerPoolHasher({ size: 1, idleMs: 0 })
    try {
      expect(await pool.verify(storedPassword, stored.hashWasm)).toBe(true)
      // The idle timer, set first, fires first: the thread is told to end and has not exited yet.
      await new Promise((resolve) => setTimeout(resolve, 0))
      expect(await pool.verify('wrong', stored.hashWasm)).toBe(false)
      expect(await pool.verify(storedPassword, stored.hashWasm)).toBe(true)
    } finally {
      await pool.close()
    }
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
