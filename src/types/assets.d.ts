// Files imported `with { type: 'file' }` in src/runtime/bun.ts: Bun gives their path.
declare module '*.wasm' {
  const path: string
  export default path
}
declare module '*.data' {
  const path: string
  export default path
}
declare module '*/swagger-ui-bundle.js' {
  const path: string
  export default path
}
declare module '*.css' {
  const path: string
  export default path
}
declare module '*.png' {
  const path: string
  export default path
}
declare module '*.xsd' {
  const path: string
  export default path
}
declare module '*.dtd' {
  const path: string
  export default path
}
declare module '*/xmllint-node.js' {
  const path: string
  export default path
}
