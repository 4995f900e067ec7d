// /docs: the API reference (Swagger UI) with every file served by us, so it works with no
// internet and under the strict CSP (no inline script: settings come from /docs/init.js).
import { Hono } from 'hono'

/** The Swagger UI files this page needs, served from swagger-ui-dist (or the binary's copy). */
export const docsAssetFiles = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const
export type DocsAssetName = keyof typeof docsAssetFiles

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pgAnalytics API reference</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`

// validatorUrl: null keeps Swagger UI from sending the document to an online validator.
const init = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
})
`

/** Routes for the reference UI. `loadAsset` returns one of the Swagger UI files. */
export function docsUiRoutes(options: {
  loadAsset: (name: DocsAssetName) => Promise<Uint8Array>
  version: string
}) {
  const loaded = new Map<DocsAssetName, Promise<Uint8Array>>()
  const cache = { 'Cache-Control': 'public, max-age=3600' }
  const app = new Hono()
    .get('/docs', (c) => c.html(page))
    .get('/docs/init.js', (c) =>
      c.body(init, 200, { 'Content-Type': 'text/javascript; charset=utf-8', ...cache }),
    )
  // One fixed route per file: a parameter with an alternation ({a|b|c}) is beyond Hono's
  // RegExpRouter and would send the probes app to its slower TrieRouter.
  for (const name of Object.keys(docsAssetFiles) as DocsAssetName[]) {
    app.get(`/docs/${name}`, async (c) => {
      let asset = loaded.get(name)
      if (!asset) {
        asset = options.loadAsset(name)
        loaded.set(name, asset)
      }
      return c.body((await asset) as Uint8Array<ArrayBuffer>, 200, {
        'Content-Type': docsAssetFiles[name],
        ETag: `"${name}-${options.version}"`,
        ...cache,
      })
    })
  }
  return app
}
