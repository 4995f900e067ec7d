import { describe, expect, it } from 'vitest'
import { createLogger, redact } from '../../src/platform/log.ts'

describe('redact', () => {
  it('hides values under secret-looking keys at any depth', () => {
    expect(
      redact({
        password: 'p1',
        nested: { apiKey: 'k1', clientSecret: 's1', list: [{ token: 't1' }] },
        user: 'ann',
      }),
    ).toEqual({
      password: '[redacted]',
      nested: { apiKey: '[redacted]', clientSecret: '[redacted]', list: [{ token: '[redacted]' }] },
      user: 'ann',
    })
  })

  it('hides passwords inside connection URLs', () => {
    expect(redact('connect postgres://pga:s3cr3t@db:5432/x failed')).toBe(
      'connect postgres://pga:[redacted]@db:5432/x failed',
    )
    expect(redact({ url: 'rediss://:pw@redis:6380' })).toEqual({ url: 'rediss://:[redacted]@redis:6380' })
  })

  it('keeps error name and message, redacted', () => {
    expect(redact(new Error('auth failed for redis://u:pw@r'))).toEqual({
      name: 'Error',
      message: 'auth failed for redis://u:[redacted]@r',
    })
  })
})

describe('createLogger', () => {
  it('writes one JSON line per entry at or above the level, with child fields', () => {
    const lines: string[] = []
    const log = createLogger({ level: 'info', write: (line) => lines.push(line) })
    log.debug('hidden')
    log.child({ requestId: 'r1' }).warn('careful', { password: 'x', count: 2n })
    expect(lines).toHaveLength(1)
    const entry = JSON.parse(lines[0] as string)
    expect(entry).toMatchObject({
      level: 'warn',
      msg: 'careful',
      requestId: 'r1',
      password: '[redacted]',
      count: '2',
    })
    expect(Date.parse(entry.time)).not.toBeNaN()
  })

  it('redacts secret-looking child fields when the line is written', () => {
    const lines: string[] = []
    const log = createLogger({ level: 'info', write: (line) => lines.push(line) })
    log.child({ apiKey: 'k-123', dsn: 'postgres://u:pw@h/db' }).info('x')
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      apiKey: '[redacted]',
      dsn: 'postgres://u:[redacted]@h/db',
    })
  })

  it('says which levels it writes', () => {
    const log = createLogger({ level: 'warn', write: () => {} })
    expect([log.enabled('info'), log.enabled('warn'), log.enabled('error')]).toEqual([false, true, true])
  })
})
