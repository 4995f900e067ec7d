// The compression algorithms a backup object can use, by name: what the configuration and the API
// schemas need, without the compression code itself (src/backup/compression.ts: zlib, lz4js).
export const compressions = ['none', 'gzip', 'zstd', 'lz4'] as const
export type Compression = (typeof compressions)[number]
