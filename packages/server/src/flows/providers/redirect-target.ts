import { unsafeRedirectText } from '../../config/oauth-redirects.js'

/**
 * Whether a sign-in may return to `target`: compared as parsed URLs with each allowed entry, the
 * scheme, host and port exactly, and the path equal to the entry's or below it at a `/` boundary
 * (`/app` allows `/app` and `/app/x`, not `/application`), after the parser resolved dot segments.
 * A query is kept; text that parsers read differently is refused (see {@link unsafeRedirectText}).
 */
export function isAllowedRedirect(allowList: readonly string[], target: string): boolean {
  if (target.length > 2048 || unsafeRedirectText(target) !== undefined) return false
  const candidate = new URL(target)
  return allowList.some((entry) => {
    const allowed = new URL(entry)
    if (
      allowed.protocol !== candidate.protocol ||
      allowed.hostname !== candidate.hostname ||
      allowed.port !== candidate.port
    ) {
      return false
    }
    const base = allowed.pathname
    const path = candidate.pathname
    if (path === base) return true
    return path.startsWith(base.endsWith('/') ? base : `${base}/`)
  })
}
