import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'

const clientDist = fileURLToPath(new URL('../../packages/client/dist/', import.meta.url))
const pageDir = fileURLToPath(new URL('../page/', import.meta.url))

/** Chromium as Debian installs it; .ci/run installs it when missing. */
export const CHROMIUM = '/usr/bin/chromium'

/** Listens on a free port of 127.0.0.1; resolves to the port. */
export const listen = (server: Server): Promise<number> =>
  new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  )

export const close = (server: Server): Promise<void> =>
  new Promise((resolve) => server.close(() => resolve()))

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.map': 'application/json',
}

/** Serves the test pages (page/index.html; page/providers.html under /providers/) and @tessera/client's built ES modules, as a static host would. */
export function pageServer(): Server {
  return createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname
    const file = path.startsWith('/client/')
      ? join(clientDist, normalize(path.slice('/client/'.length)))
      : join(pageDir, path.startsWith('/providers/') ? 'providers.html' : 'index.html')
    if (!file.startsWith(clientDist) && !file.startsWith(pageDir)) return response.writeHead(404).end()
    try {
      const body = await readFile(file)
      response
        .writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
        .end(body)
    } catch {
      response.writeHead(404).end()
    }
  })
}
