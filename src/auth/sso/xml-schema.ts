// XML Schema validation of SAML messages (samlify's schema validator): libxml2's xmllint compiled
// to WebAssembly (xmllint-wasm) with the SAML 2.0, XML Signature and XML Encryption schemas
// (@authenio/samlify-xmllint-wasm). Run in-process from one compiled module, not in a worker per
// message as the packages do (~15 ms instead of ~300 ms), never touching process.exitCode or the
// console, and with every file handed in by the runtime: the binary embeds them (runtime/bun.ts),
// Node reads them from node_modules (runtime/node.ts).

export const samlSchemaNames = [
  'saml-schema-protocol-2.0.xsd',
  'datatypes.dtd',
  'saml-schema-assertion-2.0.xsd',
  'xmldsig-core-schema.xsd',
  'XMLSchema.dtd',
  'xenc-schema.xsd',
] as const
export type SamlSchemaFileName = (typeof samlSchemaNames)[number] | 'xmllint-node.js' | 'xmllint.wasm'

/** Reads one of the validator's files (the runtime knows where they are). */
export type SamlSchemaFiles = (name: SamlSchemaFileName) => Promise<Uint8Array>

type EmscriptenModule = (options: Record<string, unknown>) => Promise<unknown>
type Loaded = {
  factory: EmscriptenModule
  wasm: WebAssembly.Module
  schemas: { fileName: string; contents: string }[]
}

/** The message was not valid against the SAML schemas (the first errors, for the log). */
export class SchemaInvalidError extends Error {
  override name = 'SchemaInvalidError'
}

/** The Emscripten factory from xmllint-node.js, without the worker bootstrap at its end. */
function emscriptenFactory(script: string): EmscriptenModule {
  const body = script.slice(0, script.indexOf(';(function initWorker()'))
  const factorySource = body.replace(
    /if \(typeof exports === 'object' && typeof module === 'object'\)[\s\S]*$/,
    '',
  )
  // A stand-in `process` and `require`: with wasmBinary given, it needs neither files nor the real
  // process (whose exitCode it would otherwise set on every invalid message).
  const stubProcess = { argv: [], versions: {}, on() {}, exitCode: 0 }
  const stubRequire = () => ({})
  return new Function('require', '__dirname', '__filename', 'process', `${factorySource}\nreturn Module`)(
    stubRequire,
    '/nonexistent',
    '/nonexistent/xmllint.js',
    stubProcess,
  ) as EmscriptenModule
}

export function createSamlSchemaValidator(files: SamlSchemaFiles) {
  let loading: Promise<Loaded> | undefined
  const load = async (): Promise<Loaded> => {
    const text = async (name: SamlSchemaFileName) => new TextDecoder().decode(await files(name))
    const [script, wasmBytes, ...schemas] = await Promise.all([
      text('xmllint-node.js'),
      files('xmllint.wasm'),
      ...samlSchemaNames.map(async (fileName) => ({ fileName, contents: await text(fileName) })),
    ])
    return {
      factory: emscriptenFactory(script as string),
      wasm: await WebAssembly.compile(wasmBytes as Uint8Array<ArrayBuffer>),
      schemas: schemas as Loaded['schemas'],
    }
  }
  return {
    /** Resolves when the message is valid; rejects with SchemaInvalidError otherwise. */
    async validate(xml: string): Promise<'valid'> {
      loading ??= load()
      const { factory, wasm, schemas } = await loading
      const stderr: number[] = []
      const exitCode = await new Promise<number>((resolve, reject) => {
        factory({
          inputFiles: [{ fileName: 'message.xml', contents: xml }, ...schemas],
          arguments: ['--schema', samlSchemaNames[0], '--noout', '--nonet', 'message.xml'],
          stdout: () => {},
          stderr: (byte: number) => stderr.push(byte),
          print: () => {},
          printErr: () => {},
          wasmMemory: new WebAssembly.Memory({ initial: 256, maximum: 512 }),
          instantiateWasm(imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance) => void) {
            WebAssembly.instantiate(wasm, imports).then(done, reject)
            return {}
          },
          onExit: resolve,
          quit: (_status: number, toThrow: unknown) => {
            throw toThrow
          },
        }).catch(reject)
      })
      if (exitCode === 0) return 'valid'
      const errors = new TextDecoder().decode(Uint8Array.from(stderr)).split('\n').slice(0, 3).join('; ')
      throw new SchemaInvalidError(errors || `xmllint exited with ${exitCode}`)
    },
  }
}

let schemaValidator: ReturnType<typeof createSamlSchemaValidator> | undefined

/** Installs the XML Schema validator (once per process): samlify checks every message it parses
 * with it, and the ACS checks each response. */
export function useSamlSchemaFiles(files: SamlSchemaFiles): void {
  schemaValidator = createSamlSchemaValidator(files)
}

/** Validates a message against the SAML 2.0 schemas; rejects when it is not valid. */
export function validateSamlSchema(xml: string): Promise<'valid'> {
  if (!schemaValidator) throw new Error('the SAML schema validator is not installed (useSamlSchemaFiles)')
  return schemaValidator.validate(xml)
}
