// RFC 8785 canonical JSON and RFC 9162 Merkle hashing: the incremental frontier agrees with the
// recursive definition at every size, audit paths verify, and any altered input fails.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  ArchivedLeafError,
  appendLeaf,
  consistencyProof,
  emptyFrontier,
  frontierRoot,
  inclusionProof,
  leafHash,
  merkleRoot,
  treeOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle.ts'
import { canonicalJson } from '../../src/platform/canonical-json.ts'

describe('canonical JSON (RFC 8785)', () => {
  it('sorts members by UTF-16 code units and drops whitespace', () => {
    // The ordering example of RFC 8785 section 3.2.3.
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    }
    const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']
    const expected = `{${order.map((k) => `${JSON.stringify(k)}:${JSON.stringify(value[k as keyof typeof value])}`).join(',')}}`
    expect(canonicalJson(value)).toBe(expected)
    expect(canonicalJson({ b: [1, { d: null, c: true }], a: 'x' })).toBe(
      '{"a":"x","b":[1,{"c":true,"d":null}]}',
    )
  })

  it('serialises numbers as ECMAScript does and refuses what JSON cannot hold', () => {
    expect(canonicalJson([1e21, 0.1, -0, 333333333.3333333, 1e-7])).toBe(
      '[1e+21,0.1,0,333333333.3333333,1e-7]',
    )
    expect(() => canonicalJson(Number.NaN)).toThrow()
  })
})

const leaves = (n: number) =>
  Array.from({ length: n }, (_, i) => leafHash(createHash('sha256').update(`entry ${i}`).digest()))

describe('Merkle tree (RFC 9162)', () => {
  it('the frontier root equals the recursive tree hash at every size from 0 to 300', () => {
    const all = leaves(300)
    let frontier = emptyFrontier()
    expect(frontierRoot(frontier).toString('hex')).toBe(createHash('sha256').digest('hex'))
    for (let n = 1; n <= 300; n++) {
      frontier = appendLeaf(frontier, all[n - 1] as Buffer)
      expect(frontier.roots.length).toBe(n.toString(2).replaceAll('0', '').length)
      expect(frontierRoot(frontier).equals(merkleRoot(all.slice(0, n))), `size ${n}`).toBe(true)
    }
  })

  it('audit paths verify for every leaf, and fail for a wrong leaf, index, size or root', () => {
    for (const size of [1, 2, 3, 7, 8, 9, 31, 64, 100]) {
      const all = leaves(size)
      const root = merkleRoot(all)
      for (let m = 0; m < size; m++) {
        const path = inclusionProof(m, all)
        expect(path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(size)))
        expect(verifyInclusion(m, size, all[m] as Buffer, path, root), `${m}/${size}`).toBe(true)
        if (size > 1) {
          expect(verifyInclusion(m, size, all[(m + 1) % size] as Buffer, path, root)).toBe(false)
          expect(verifyInclusion((m + 1) % size, size, all[m] as Buffer, path, root)).toBe(false)
        }
        expect(verifyInclusion(m, size, all[m] as Buffer, path, leafHash(Buffer.from('other')))).toBe(false)
      }
    }
  })

  it('consistency proofs verify between every pair of sizes, and fail for altered history', () => {
    const all = leaves(70)
    for (let second = 1; second <= 70; second++) {
      const secondRoot = merkleRoot(all.slice(0, second))
      for (let first = 1; first <= second; first++) {
        const firstRoot = merkleRoot(all.slice(0, first))
        const proof = consistencyProof(first, all.slice(0, second))
        expect(verifyConsistency(first, second, firstRoot, secondRoot, proof), `${first}→${second}`).toBe(
          true,
        )
        if (first < second) {
          // A first tree whose history was rewritten is not a prefix of the second.
          const rewritten = merkleRoot([leafHash(Buffer.from('forged')), ...all.slice(1, first)])
          expect(verifyConsistency(first, second, rewritten, secondRoot, proof)).toBe(false)
        }
      }
    }
  })
})

describe('Merkle proofs over an archived prefix (only its frontier kept)', () => {
  const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)))
  const frontierAt = (n: number) =>
    leaves.slice(0, n).reduce((f, leaf) => appendLeaf(f, leaf), emptyFrontier())

  it('gives the same audit paths and consistency proofs as the full tree for everything after the prefix', () => {
    for (const archived of [1, 5, 16, 31, 40]) {
      for (const size of [archived + 1, archived + 7, 64, 70].filter((n) => n > archived && n <= 70)) {
        const partial = treeOf(leaves.slice(archived, size), frontierAt(archived))
        for (let m = archived; m < size; m++)
          expect(inclusionProof(m, partial), `leaf ${m} of ${size} after ${archived}`).toEqual(
            inclusionProof(m, leaves.slice(0, size)),
          )
        for (let first = archived; first <= size; first++) {
          let proof: Buffer[] | null = null
          try {
            proof = consistencyProof(first, partial)
          } catch (error) {
            expect(error).toBeInstanceOf(ArchivedLeafError)
            continue
          }
          expect(proof).toEqual(consistencyProof(first, leaves.slice(0, size)))
        }
      }
    }
  })

  it('refuses a proof that needs an archived leaf', () => {
    const partial = treeOf(leaves.slice(21, 40), frontierAt(21))
    expect(() => inclusionProof(3, partial)).toThrow(ArchivedLeafError)
  })
})
