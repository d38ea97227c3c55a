import type { FetchLike } from '../../src/index.js'

/** A problem+json answer as Tessera writes it. */
export function problem(status: number, code: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title: 'Error', status, code, detail: code }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  })
}

export interface Recorded {
  url: string
  method: string
  headers: Headers
  credentials: RequestCredentials | undefined
  body: string | undefined
}

/** A fetch that records every request it passes on to `inner`. */
export function recordingFetch(inner: FetchLike = fetch) {
  const requests: Recorded[] = []
  const wrapped: FetchLike = async (input, init) => {
    const request = new Request(input, init)
    requests.push({
      url: request.url,
      method: request.method,
      headers: new Headers(request.headers),
      credentials: init?.credentials,
      body: typeof init?.body === 'string' ? init.body : undefined,
    })
    return inner(input, init)
  }
  return {
    fetch: wrapped,
    requests,
    to: (path: string) => requests.filter((r) => new URL(r.url).pathname === path),
  }
}

/**
 * A fetch in front of the real one: requests to `http://api.test` go to `handler` (a fake resource
 * server), and `intercept` may answer any other request instead of the network.
 */
export function fakeApi(options: {
  handler?: (request: Request) => Response | Promise<Response>
  intercept?: (request: Request) => Response | Promise<Response> | undefined
  inner?: FetchLike
}) {
  const seen: Request[] = []
  const wrapped: FetchLike = async (input, init) => {
    const request = new Request(input, init)
    if (request.url.startsWith('http://api.test/')) {
      seen.push(request.clone())
      if (!options.handler) throw new Error('no fake API handler')
      return options.handler(request)
    }
    const intercepted = await options.intercept?.(request.clone())
    if (intercepted) return intercepted
    return (options.inner ?? fetch)(input, init)
  }
  return { fetch: wrapped, seen }
}

/**
 * The one cookie jar Node's fetch lacks: keeps what `Set-Cookie` says for the server's origin and
 * sends it back on requests made with `credentials: 'include'`, as a browser would.
 */
export function cookieJar(inner: FetchLike = fetch) {
  const cookies = new Map<string, string>()
  const wrapped: FetchLike = async (input, init) => {
    const headers = new Headers(init?.headers)
    if (init?.credentials === 'include' && cookies.size > 0) {
      headers.set('cookie', [...cookies].map(([name, value]) => `${name}=${value}`).join('; '))
    }
    const response = await inner(input, { ...init, headers })
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';')
      const separator = pair.indexOf('=')
      const name = pair.slice(0, separator).trim()
      const value = pair.slice(separator + 1).trim()
      const expired = value === '' || attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute))
      if (expired) cookies.delete(name)
      else cookies.set(name, value)
    }
    return response
  }
  return { fetch: wrapped, cookies }
}
