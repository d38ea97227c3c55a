import type { FetchLike } from '../verifier-options.js'

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * The discovery document names another issuer than the one configured: a configuration mistake
 * (`http://127.0.0.1:3000` configured, `http://localhost:3000` issued), not a bad token.
 */
export class IssuerMismatchError extends Error {
  readonly configured: string
  readonly discovered: unknown

  constructor(discoveryUrl: URL, configured: string, discovered: unknown) {
    super(
      `the discovery document at ${discoveryUrl.href} names the issuer ${JSON.stringify(discovered)}, ` +
        `but this service is configured with issuer "${configured}": set issuer to exactly the server's ` +
        'TESSERA_PUBLIC_URL (the iss of its tokens). Every token is refused until then.',
    )
    this.name = 'IssuerMismatchError'
    this.configured = configured
    this.discovered = discovered
  }
}

/**
 * Reads `jwks_uri` from the issuer's discovery document. The document's `issuer` must equal the
 * configured one (OpenID Connect Discovery 1.0 §4.3), so a proxy or a typo cannot point us at
 * another server's keys. Redirects are refused, as jose refuses them for the JWKS.
 */
export async function discoverJwksUrl(
  discoveryUrl: URL,
  issuer: string,
  fetchImpl: FetchLike,
  timeoutMs: number,
): Promise<URL> {
  const response = await fetchImpl(discoveryUrl.href, {
    method: 'GET',
    headers: { accept: 'application/json' },
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  })
  if (response.status !== 200) {
    throw new Error(`discovery: expected 200 from ${discoveryUrl.href}, got ${response.status}`)
  }
  const document: unknown = await response.json()
  if (!isObject(document)) throw new Error(`discovery: ${discoveryUrl.href} is not a JSON object`)
  if (document.issuer !== issuer) throw new IssuerMismatchError(discoveryUrl, issuer, document.issuer)
  const jwksUri = document.jwks_uri
  if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) {
    throw new Error('discovery: the document has no valid jwks_uri')
  }
  const url = new URL(jwksUri)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`discovery: jwks_uri must be an http(s) URL, got ${jwksUri}`)
  }
  return url
}
