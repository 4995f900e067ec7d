// Bun runtime: Bun.serve for HTTP, Bun.password for argon2id (native, on Bun's thread pool). Files the binary needs are embedded at build time: imports
// `with { type: 'file' }` (docs UI files, the committed OpenAPI document, PGlite WASM and fs bundle, the SAML schema validator's
// WASM, script and schemas) and migrations/*.sql passed to `bun build --compile` as extra entry
// points (Bun.embeddedFiles). From source (`bun run`) the same imports resolve to files on disk
// and migrations are read from the tree.
import datatypesDtd from '../../node_modules/@authenio/samlify-xmllint-wasm/schemas/datatypes.dtd' with {
  type: 'file',
}
import samlAssertionXsd from '../../node_modules/@authenio/samlify-xmllint-wasm/schemas/saml-schema-assertion-2.0.xsd' with {
  type: 'file',
}
import samlProtocolXsd from '../../node_modules/@authenio/samlify-xmllint-wasm/schemas/saml-schema-protocol-2.0.xsd' with {
  type: 'file',
}
import xmlSchemaDtd from '../../node_modules/@authenio/samlify-xmllint-wasm/schemas/XMLSchema.dtd' with {
  type: 'file',
}
import xencXsd from '../../node_modules/@authenio/samlify-xmllint-wasm/schemas/xenc-schema.xsd' with {
  type: 'file',
}
import xmldsigXsd from '../../node_modules/@authenio/samlify-xmllint-wasm/schemas/xmldsig-core-schema.xsd' with {
  type: 'file',
}
import initdbPath from '../../node_modules/@electric-sql/pglite/dist/initdb.wasm' with { type: 'file' }
import fsBundlePath from '../../node_modules/@electric-sql/pglite/dist/pglite.data' with { type: 'file' }
import pgliteWasmPath from '../../node_modules/@electric-sql/pglite/dist/pglite.wasm' with { type: 'file' }
import swaggerFavicon from '../../node_modules/swagger-ui-dist/favicon-32x32.png' with { type: 'file' }
import swaggerCss from '../../node_modules/swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import swaggerBundle from '../../node_modules/swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import xmllintWasm from '../../node_modules/xmllint-wasm/xmllint.wasm' with { type: 'file' }
import xmllintScript from '../../node_modules/xmllint-wasm/xmllint-node.js' with { type: 'file' }
import openApiDocumentFile from '../../openapi/openapi.json' with { type: 'file' }
import { workerPoolHasher } from '../auth/password-hashing.ts'
import type { SamlSchemaFileName } from '../auth/sso/xml-schema.ts'
import type { DocsAssetName } from '../http/docs-ui.ts'
import { bunMigrations, bunServe, compiled } from './bun-core.ts'
import type { Runtime } from './runtime.ts'

const docsFiles: Record<DocsAssetName, string> = {
  'swagger-ui-bundle.js': swaggerBundle,
  'swagger-ui.css': swaggerCss,
  'favicon-32x32.png': swaggerFavicon,
}

const samlSchemaFiles: Record<SamlSchemaFileName, string> = {
  'xmllint-node.js': xmllintScript,
  'xmllint.wasm': xmllintWasm,
  'XMLSchema.dtd': xmlSchemaDtd,
  'datatypes.dtd': datatypesDtd,
  'saml-schema-assertion-2.0.xsd': samlAssertionXsd,
  'saml-schema-protocol-2.0.xsd': samlProtocolXsd,
  'xenc-schema.xsd': xencXsd,
  'xmldsig-core-schema.xsd': xmldsigXsd,
}

export const bunRuntime: Runtime = {
  name: 'bun',
  passwordHasher: () => workerPoolHasher({ engine: 'bun' }),
  assets: {
    migrations: bunMigrations,
    docsAsset: async (name) => new Uint8Array(await Bun.file(docsFiles[name]).arrayBuffer()),
    // With `type: 'file'` Bun gives the path; TypeScript still types the import as the JSON.
    openApiDocument: () => Bun.file(openApiDocumentFile as unknown as string).text(),
    samlSchemaFile: async (name) => new Uint8Array(await Bun.file(samlSchemaFiles[name]).arrayBuffer()),
    ...(compiled
      ? {
          embeddedStore: async () => {
            const [pgliteWasmModule, initdbWasmModule] = await Promise.all([
              WebAssembly.compile(await Bun.file(pgliteWasmPath).arrayBuffer()),
              WebAssembly.compile(await Bun.file(initdbPath).arrayBuffer()),
            ])
            const fsBundle = new Blob([await Bun.file(fsBundlePath).arrayBuffer()])
            return { pgliteWasmModule, initdbWasmModule, fsBundle }
          },
        }
      : {}),
  },
  serve: bunServe,
}
