import { createApp } from './app.js'

const port = Number(process.env.PORT ?? 4000)
const tesseraUrl = (process.env.TESSERA_URL ?? 'http://localhost:3000').replace(/\/+$/, '')
const allowedOrigins = (process.env.ALLOWED_ORIGINS ?? '')
  .split(',')
  .map((origin) => origin.trim())
  .filter(Boolean)

const server = createApp({ tesseraUrl, allowedOrigins }).listen(port, process.env.HOST ?? '127.0.0.1', () => {
  console.log(`Example API on http://localhost:${port}/api (tokens from ${tesseraUrl})`)
})
const stop = () => server.close(() => process.exit(0))
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
