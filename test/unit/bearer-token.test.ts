// The Authorization header parser of every authenticated request: the same answers as the
// regular expression it replaced (/^Bearer ([^\s]+)$/), case by case and over generated headers.
import { describe, expect, it } from 'vitest'
import { bearerToken } from '../../src/auth/middleware.ts'

const reference = (header: string) => /^Bearer ([^\s]+)$/.exec(header)?.[1]

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['Bearer pga_key_123', 'pga_key_123'],
    ['Bearer ', undefined],
    ['Bearer', undefined],
    ['Basic dXNlcjpwYXNz', undefined],
    ['bearer abc', undefined],
    ['Bearer  abc', undefined],
    ['Bearer abc ', undefined],
    ['Bearer a\tb', undefined],
    ['Bearer a\u00a0b', undefined],
    ['Bearer a\u1680b', undefined],
    ['Bearer a\u3000b', undefined],
    ['Bearer a\ufeffb', undefined],
    ['Bearer a\u0001b', 'a\u0001b'],
    ['Bearer héllo', 'héllo'],
  ])('%j gives %j', (header, token) => {
    expect(bearerToken(header)).toBe(token)
    expect(bearerToken(header)).toBe(reference(header))
  })

  it('agrees with the regular expression on 20,000 generated headers', () => {
    const alphabet = [
      'a',
      'Z',
      '0',
      '.',
      '-',
      '_',
      ' ',
      '\t',
      '\n',
      '\u0001',
      '\u007f',
      '\u00a0',
      '\u0085',
      '\u1680',
      '\u2003',
      '\u3000',
      'é',
      '\ufeff',
    ]
    let seed = 42
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed
    }
    for (let i = 0; i < 20_000; i++) {
      let token = ''
      for (let n = next() % 12; n > 0; n--) token += alphabet[next() % alphabet.length]
      const header = (next() % 10 === 0 ? 'Basic ' : 'Bearer ') + token
      expect(bearerToken(header), JSON.stringify(header)).toBe(reference(header))
    }
  })
})
