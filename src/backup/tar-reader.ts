// A streaming reader of the tar format pg_basebackup writes (ustar, with pax and GNU long-name
// extensions for safety): entries one after the other, each file's data read in pieces of the
// caller's choosing, never the whole archive in memory. Reading is pulled by the caller, so a
// slow consumer pauses the producer (back-pressure through the async iterator).

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'other'
export type TarEntry = {
  path: string
  type: TarEntryType
  mode: number
  mtime: number
  size: number
  linkTarget: string
}

/** Exact-size reads over an async stream of byte arrays. What read() returns is never written to
 * again (a view of a piece the stream gave, or a new array), so callers may keep it. */
export class ByteReader {
  private buffers: Uint8Array[] = []
  private buffered = 0
  private done = false
  private readonly iterator: AsyncIterator<Uint8Array>
  /** Bytes consumed so far. */
  position = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.done) {
      const next = await this.iterator.next()
      if (next.done) this.done = true
      else if (next.value.byteLength > 0) {
        this.buffers.push(next.value)
        this.buffered += next.value.byteLength
      }
    }
  }

  /** Up to n bytes (fewer only at the end of the stream). */
  async read(n: number): Promise<Uint8Array> {
    await this.fill(n)
    const take = Math.min(n, this.buffered)
    const first = this.buffers[0]
    let out: Uint8Array
    if (first && first.byteLength >= take) {
      out = first.subarray(0, take)
      if (first.byteLength === take) this.buffers.shift()
      else this.buffers[0] = first.subarray(take)
    } else {
      out = new Uint8Array(take)
      let filled = 0
      while (filled < take) {
        const head = this.buffers[0] as Uint8Array
        const part = Math.min(head.byteLength, take - filled)
        out.set(head.subarray(0, part), filled)
        filled += part
        if (part === head.byteLength) this.buffers.shift()
        else this.buffers[0] = head.subarray(part)
      }
    }
    this.buffered -= take
    this.position += take
    return out
  }

  /** Reads and drops everything left: a child's stdout must be consumed to its end before the
   * child counts as closed (tar padding after the end-of-archive marker, for one). */
  async drain(): Promise<void> {
    this.buffers = []
    this.buffered = 0
    while (!this.done) {
      const next = await this.iterator.next()
      if (next.done) this.done = true
    }
  }

  async skip(n: number): Promise<void> {
    let left = n
    while (left > 0) {
      const piece = await this.read(Math.min(left, 1 << 20))
      if (piece.byteLength === 0) throw new Error('tar: unexpected end of stream')
      left -= piece.byteLength
    }
  }
}

const decoder = new TextDecoder()
const field = (block: Uint8Array, start: number, length: number) => {
  const bytes = block.subarray(start, start + length)
  const end = bytes.indexOf(0)
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end))
}
function octal(block: Uint8Array, start: number, length: number): number {
  // Base-256 (GNU) for sizes above 8 GiB: high bit of the first byte set.
  if ((block[start] as number) & 0x80) {
    let value = 0
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (block[i] as number)
    return value
  }
  const text = field(block, start, length).trim()
  return text ? Number.parseInt(text, 8) : 0
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number)
  return sum === octal(block, 148, 8)
}

/** pax records ("len key=value\n") into a map. */
function paxRecords(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>()
  const text = decoder.decode(data)
  let at = 0
  while (at < text.length) {
    const space = text.indexOf(' ', at)
    const length = Number.parseInt(text.slice(at, space), 10)
    if (!(length > 0)) break
    const record = text.slice(space + 1, at + length - 1)
    const equals = record.indexOf('=')
    records.set(record.slice(0, equals), record.slice(equals + 1))
    at += length
  }
  return records
}

/**
 * The entries of a tar stream. For each yielded entry of type `file`, the caller reads its data
 * with `reader.read()` (in total at most `entry.size` bytes) before asking for the next entry;
 * whatever it leaves unread, and the padding, is skipped.
 */
export async function* tarEntries(reader: ByteReader): AsyncGenerator<TarEntry> {
  let longName: string | undefined
  let longLink: string | undefined
  let pax = new Map<string, string>()
  for (;;) {
    const block = await reader.read(512)
    if (block.byteLength === 0) return
    if (block.byteLength < 512) throw new Error('tar: truncated header')
    if (block.every((b) => b === 0)) return // end-of-archive marker
    if (!checksumOk(block)) throw new Error(`tar: bad header checksum at byte ${reader.position - 512}`)
    const flag = String.fromCharCode(block[156] as number)
    const size = octal(block, 124, 12)
    const padded = Math.ceil(size / 512) * 512
    if (flag === 'L' || flag === 'K' || flag === 'x') {
      const data = await reader.read(padded)
      const content = data.subarray(0, size)
      if (flag === 'x') pax = paxRecords(content)
      else if (flag === 'L') longName = field(content, 0, size)
      else longLink = field(content, 0, size)
      continue
    }
    if (flag === 'g') {
      await reader.skip(padded)
      continue
    }
    const prefix = field(block, 345, 155)
    const name =
      longName ?? pax.get('path') ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100))
    const entry: TarEntry = {
      path: name.replace(/\/+$/, ''),
      type:
        flag === '0' || flag === '\0' || flag === '7'
          ? 'file'
          : flag === '5'
            ? 'directory'
            : flag === '2'
              ? 'symlink'
              : 'other',
      mode: octal(block, 100, 8),
      mtime: Number(pax.get('mtime') ?? octal(block, 136, 12)),
      size: Number(pax.get('size') ?? size),
      linkTarget: longLink ?? pax.get('linkpath') ?? field(block, 157, 100),
    }
    longName = longLink = undefined
    pax = new Map()
    const start = reader.position
    yield entry
    const consumed = reader.position - start
    const dataLength = entry.size // 0 for directories and links
    if (consumed > dataLength) throw new Error(`tar: read past the end of ${entry.path}`)
    await reader.skip(Math.ceil(dataLength / 512) * 512 - consumed)
  }
}
