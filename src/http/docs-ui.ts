// /docs: the API reference (Scalar) with its script served by us, so it works with no internet.
// No inline script: the page loads its settings from /docs/init.js and the strict CSP holds.
import { Hono } from 'hono'

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pgAnalytics API reference</title>
</head>
<body>
<div id="api-reference"></div>
<script src="/docs/scalar.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`

// withDefaultFonts: false keeps the page from fetching fonts from Scalar's CDN.
const init = `Scalar.createApiReference('#api-reference', {
  url: '/openapi.json',
  withDefaultFonts: false,
  hideClientButton: true,
  telemetry: false,
})
`

/** Routes for the reference UI. `loadScript` returns the Scalar standalone bundle. */
export function docsUiRoutes(options: { loadScript: () => Promise<Uint8Array>; version: string }) {
  let script: Promise<Uint8Array> | undefined
  const cache = 'public, max-age=3600'
  return new Hono()
    .get('/docs', (c) => c.html(page))
    .get('/docs/init.js', (c) =>
      c.body(init, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': cache }),
    )
    .get('/docs/scalar.js', async (c) => {
      script ??= options.loadScript()
      const body = await script
      return c.body(body as Uint8Array<ArrayBuffer>, 200, {
        'Content-Type': 'text/javascript; charset=utf-8',
        'Cache-Control': cache,
        ETag: `"scalar-${options.version}"`,
      })
    })
}
