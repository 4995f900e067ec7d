// Version and git revision. `npm run build` embeds them with --define; from source they come
// from package.json and "dev".
import pkg from '../../package.json' with { type: 'json' }

declare const PGA_BUILD_VERSION: string | undefined
declare const PGA_BUILD_REVISION: string | undefined

export type BuildInfo = { version: string; revision: string; runtime: string }

function runtimeName(): string {
  const bun = (globalThis as { Bun?: { version: string } }).Bun
  return bun ? `bun ${bun.version}` : `node ${process.versions.node}`
}

export const buildInfo: BuildInfo = {
  version: typeof PGA_BUILD_VERSION === 'string' ? PGA_BUILD_VERSION : pkg.version,
  revision: typeof PGA_BUILD_REVISION === 'string' ? PGA_BUILD_REVISION : 'dev',
  runtime: runtimeName(),
}
