/**
 * OAuth scopes (RFC 6749 §3.3): `scope = scope-token *( SP scope-token )`, each token one or more
 * of %x21 / %x23-5B / %x5D-7E (printable ASCII without space, `"` and `\`). Tessera knows
 * `introspect`, `revocations:read` and `admin`; any other token is for an application to check.
 */

/** The scopes Tessera's own endpoints check. */
export const KNOWN_SCOPES = ['introspect', 'revocations:read', 'admin'] as const

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** Longest scope token, and most tokens in one client, we take: far past any real use. */
const MAX_SCOPE_LENGTH = 128
const MAX_SCOPES = 64

/**
 * The scope tokens of a space-separated list, duplicates dropped and order kept; a string naming
 * what is wrong when it breaks the grammar. Runs of spaces and the ends are forgiven, nothing else.
 */
export function parseScope(text: string): string[] | { invalid: string } {
  const tokens = text.split(' ').filter((token) => token !== '')
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token)) {
      return { invalid: `"${printable(token)}" is not a scope: printable ASCII without spaces, " or \\` }
    }
    if (token.length > MAX_SCOPE_LENGTH)
      return { invalid: `a scope is at most ${MAX_SCOPE_LENGTH} characters` }
  }
  const unique = [...new Set(tokens)]
  if (unique.length > MAX_SCOPES) return { invalid: `at most ${MAX_SCOPES} scopes` }
  return unique
}

// the offending token, shown without control characters (it may come from a request)
const printable = (token: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  token.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').slice(0, 40)
