import { vi } from 'vitest'
import type { FetchLike } from '../../src/index.js'

/**
 * One browser tab for the client in Node: `location` (whose `assign` records where the client
 * sends the browser), `history.replaceState` and this tab's own `sessionStorage`, installed as
 * globals by `show()`. Undo with `vi.unstubAllGlobals()`.
 */
export function fakeTab(href: string) {
  const storage = new Map<string, string>()
  const assigned: string[] = []
  const location = {
    href,
    get hash() {
      return new URL(location.href).hash
    },
    assign(url: string) {
      assigned.push(url)
    },
  }
  const history = {
    state: null as unknown,
    replaceState(_data: unknown, _unused: string, url?: string) {
      if (url !== undefined) location.href = new URL(url, location.href).href
    },
  }
  const sessionStorage = {
    getItem: (key: string) => storage.get(key) ?? null,
    setItem: (key: string, value: string) => {
      storage.set(key, String(value))
    },
    removeItem: (key: string) => {
      storage.delete(key)
    },
  }
  return {
    location,
    storage,
    assigned,
    /** Makes this tab the page the client sees. */
    show() {
      vi.stubGlobal('location', location)
      vi.stubGlobal('history', history)
      vi.stubGlobal('sessionStorage', sessionStorage)
    },
    /** The browser arrives at `url` (a new page load in this tab). */
    arrive(url: string) {
      location.href = url
    },
  }
}

/**
 * The browser's trip from `url`: Tessera's redirects through `tesseraFetch` (the client's cookie
 * jar, so its cookies are the tab's), the provider's development login (as `login`) and consent
 * forms with a jar of their own, until a redirect leaves both: the app's URL, which it returns.
 */
export async function travel(
  url: string,
  options: { tessera: string; tesseraFetch: FetchLike; login: string },
): Promise<string> {
  const idpCookies = new Map<string, string>()
  let next = new URL(url)
  let form: URLSearchParams | undefined
  for (let step = 0; step < 20; step += 1) {
    if (next.origin === options.tessera) {
      const response = await options.tesseraFetch(next.href, { redirect: 'manual', credentials: 'include' })
      const location = response.headers.get('location')
      if (!location) throw new Error(`Tessera answered ${response.status}: ${await response.text()}`)
      next = new URL(location, next)
      continue
    }
    if (next.protocol !== 'http:' || next.hostname !== '127.0.0.1') return next.href
    const response = await fetch(next, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: [...idpCookies].map(([name, value]) => `${name}=${value}`).join('; '),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { body: form.toString() } : {}),
    })
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const at = pair.indexOf('=')
      idpCookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim())
    }
    form = undefined
    const location = response.headers.get('location')
    if (location) {
      next = new URL(location, next)
      continue
    }
    const html = await response.text()
    const action = /action="([^"]+)"/.exec(html)?.[1]
    if (!action) throw new Error(`the provider answered ${response.status} without a form`)
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1] ?? 'login'
    form = new URLSearchParams(
      prompt === 'login' ? { prompt, login: options.login, password: 'any' } : { prompt },
    )
    next = new URL(action, next)
  }
  throw new Error('the browser never came back to the app')
}
