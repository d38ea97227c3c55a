import { ConfigError } from './config-error.js'

/**
 * Why a URL's text is refused as a redirect target (or an allow-list entry), or `undefined`: what
 * parsers disagree on is kept out before comparing, so that the URL checked is the URL a browser
 * follows. A backslash is a slash to browsers; an encoded slash may be decoded by the app behind
 * the path; userinfo hides the host from a reader (`https://app.example@evil.example`).
 */
export function unsafeRedirectText(raw: string): string | undefined {
  // \s covers spaces; a control character is anything below U+0020, and DEL
  if (/[\s\\]/.test(raw) || [...raw].some((char) => char < ' ' || char === '\u007f')) {
    return 'has a backslash, space or control character'
  }
  if (/%(2f|5c)/i.test(raw)) return 'has an encoded slash or backslash'
  if (raw.includes('#')) return 'has a fragment'
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    return 'is not an absolute URL'
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'is not http(s)'
  if (parsed.username !== '' || parsed.password !== '' || raw.includes('@')) return 'has a user name'
  return undefined
}

/**
 * `TESSERA_OAUTH_REDIRECTS`: comma-separated URLs a sign-in may return to, each normalised
 * (`href`, without query); a redirect target matches one with the same scheme, host and port and a
 * path equal to it or below it at a `/` boundary.
 */
export const redirectAllowList = (variable: string, raw: string): readonly string[] =>
  raw
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '')
    .map((value) => {
      const reason = unsafeRedirectText(value)
      if (reason !== undefined) throw new ConfigError(variable, `"${value}" ${reason}`)
      const parsed = new URL(value)
      if (parsed.search !== '') throw new ConfigError(variable, `"${value}" has a query`)
      return parsed.href
    })
