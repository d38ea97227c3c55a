import { createApp } from './app.js'

const port = Number(process.env.PORT ?? 4000)
const tesseraUrl = (process.env.TESSERA_URL ?? 'http://localhost:3000').replace(/\/+$/, '')
const allowedOrigins = (process.env.ALLOWED_ORIGINS ?? '')
  .split(',')
  .map((origin) => origin.trim())
  .filter(Boolean)

// a service client with the revocations:read scope (tessera clients create --name example-api
// --scope revocations:read): with it, logouts and role changes reach this API within a second
const clientId = process.env.TESSERA_CLIENT_ID
const clientSecret = process.env.TESSERA_CLIENT_SECRET
if (Boolean(clientId) !== Boolean(clientSecret)) {
  console.error(
    'Set both TESSERA_CLIENT_ID and TESSERA_CLIENT_SECRET to follow the revocation feed, or neither.',
  )
  process.exit(1)
}
const revocations = clientId && clientSecret ? { clientId, clientSecret } : undefined

const app = createApp({ tesseraUrl, allowedOrigins, revocations })
const server = app.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  const feed = revocations ? `following revocations as ${clientId}` : 'revocation feed off'
  console.log(`Example API on http://localhost:${port}/api (tokens from ${tesseraUrl}; ${feed})`)
})
const stop = () => {
  // the feed's open connection would otherwise keep the process alive
  app.locals.verifier.close().finally(() => server.close(() => process.exit(0)))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
