// Merkle tree hashing of RFC 9162 (Certificate Transparency 2.0), section 2.1: leaf hash
// SHA-256(0x00 || data), node hash SHA-256(0x01 || left || right), a tree of n leaves split at
// the largest power of two below n. The sealer keeps the tree as its frontier (the roots of the
// perfect subtrees, left to right, at most 64), so appending a batch costs O(batch · log n) and
// a checkpoint needs no pass over the whole log.
import { createHash } from 'node:crypto'

export const leafHash = (data: Uint8Array): Buffer =>
  createHash('sha256')
    .update(Buffer.from([0]))
    .update(data)
    .digest()
export const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer =>
  createHash('sha256')
    .update(Buffer.from([1]))
    .update(left)
    .update(right)
    .digest()
const emptyRoot = createHash('sha256').digest()

/** Subtree roots of a tree of `size` leaves, one per set bit of size, largest first. */
export type Frontier = { size: number; roots: Buffer[] }

export const emptyFrontier = (): Frontier => ({ size: 0, roots: [] })

/** Appends one leaf hash, merging equal-sized subtrees as a binary counter carries. */
export function appendLeaf(frontier: Frontier, leaf: Buffer): Frontier {
  const roots = [...frontier.roots]
  let node = leaf
  let size = frontier.size
  // Each trailing 1 bit of size is a perfect subtree of the same height as `node`: merge.
  while (size & 1) {
    node = nodeHash(roots.pop() as Buffer, node)
    size >>= 1
  }
  roots.push(node)
  return { size: frontier.size + 1, roots }
}

/** Root hash of the tree the frontier describes (MTH of RFC 9162). */
export function frontierRoot(frontier: Frontier): Buffer {
  if (frontier.roots.length === 0) return emptyRoot
  let root = frontier.roots[frontier.roots.length - 1] as Buffer
  for (let i = frontier.roots.length - 2; i >= 0; i--) root = nodeHash(frontier.roots[i] as Buffer, root)
  return root
}

/** MTH computed directly from all leaf hashes (reference, and for verification of a range). */
export function merkleRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return emptyRoot
  if (leaves.length === 1) return leaves[0] as Buffer
  const k = largestPowerOfTwoBelow(leaves.length)
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)))
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** A tree whose subtree hashes can be computed: from all its leaves, or from the frontier of an
 * archived prefix plus the leaves after it. */
export type MerkleTree = { size: number; hash(from: number, to: number): Buffer }

/** Thrown when a proof needs a leaf of the archived prefix (only the prefix's frontier is kept). */
export class ArchivedLeafError extends Error {}

/** The tree of `prefix` (its frontier) followed by `leaves`; without a prefix, of `leaves` alone. */
export function treeOf(leaves: Buffer[], prefix: Frontier = emptyFrontier()): MerkleTree {
  // The frontier's roots are the perfect subtrees [start, start + width) of the prefix, largest first.
  const known = new Map<string, Buffer>()
  let start = 0
  for (const root of prefix.roots) {
    const width = 2 ** Math.floor(Math.log2(prefix.size - start))
    known.set(`${start}:${start + width}`, root)
    start += width
  }
  const size = prefix.size + leaves.length
  const hash = (from: number, to: number): Buffer => {
    const root = known.get(`${from}:${to}`)
    if (root) return root
    if (to - from === 1) {
      if (from < prefix.size) throw new ArchivedLeafError(`leaf ${from} is archived`)
      return leaves[from - prefix.size] as Buffer
    }
    const k = largestPowerOfTwoBelow(to - from)
    return nodeHash(hash(from, from + k), hash(from + k, to))
  }
  return { size, hash: (from, to) => (to - from === 0 ? emptyRoot : hash(from, to)) }
}

const asTree = (leaves: Buffer[] | MerkleTree): MerkleTree =>
  Array.isArray(leaves) ? treeOf(leaves) : leaves

/** Audit path (RFC 9162 2.1.3.1) of leaf m in the tree. */
export function inclusionProof(m: number, leaves: Buffer[] | MerkleTree): Buffer[] {
  const tree = asTree(leaves)
  const path = (m: number, from: number, to: number): Buffer[] => {
    if (to - from <= 1) return []
    const k = largestPowerOfTwoBelow(to - from)
    return m < k
      ? [...path(m, from, from + k), tree.hash(from + k, to)]
      : [...path(m - k, from + k, to), tree.hash(from, from + k)]
  }
  return path(m, 0, tree.size)
}

/** Checks an audit path (RFC 9162 2.1.3.2): does leaf `index` of a tree of `size` lead to `root`? */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Buffer,
  path: Buffer[],
  root: Buffer,
): boolean {
  if (index >= size) return false
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of path) {
    if (sn === 0) return false
    if (fn & 1 || fn === sn) {
      r = nodeHash(p, r)
      if (!(fn & 1)) {
        while (fn !== 0 && !(fn & 1)) {
          fn >>= 1
          sn >>= 1
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn >>= 1
    sn >>= 1
  }
  return sn === 0 && r.equals(root)
}

/** Consistency proof (RFC 9162 2.1.4.1) that the tree of the first m leaves is a prefix of the tree. */
export function consistencyProof(m: number, leaves: Buffer[] | MerkleTree): Buffer[] {
  const tree = asTree(leaves)
  const subproof = (m: number, from: number, to: number, complete: boolean): Buffer[] => {
    if (m === to - from) return complete ? [] : [tree.hash(from, to)]
    const k = largestPowerOfTwoBelow(to - from)
    return m <= k
      ? [...subproof(m, from, from + k, complete), tree.hash(from + k, to)]
      : [...subproof(m - k, from + k, to, false), tree.hash(from, from + k)]
  }
  return subproof(m, 0, tree.size, true)
}

/** Checks a consistency proof (RFC 9162 2.1.4.2) between the roots of trees of sizes first ≤ second. */
export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Buffer,
  secondRoot: Buffer,
  proof: Buffer[],
): boolean {
  if (first > second || first === 0) return false
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot)
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof]
  if (path.length === 0) return false
  let fn = first - 1
  let sn = second - 1
  while (fn & 1) {
    fn >>= 1
    sn >>= 1
  }
  let fr = path[0] as Buffer
  let sr = path[0] as Buffer
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn & 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while (!(fn & 1) && fn !== 0) {
        fn >>= 1
        sn >>= 1
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn >>= 1
    sn >>= 1
  }
  return sn === 0 && fr.equals(firstRoot) && sr.equals(secondRoot)
}
