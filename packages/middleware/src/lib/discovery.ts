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

/** What the verifier reads from the issuer's discovery document. */
export interface Discovered {
  readonly jwksUri: URL
  /** `tessera_revocation_events_endpoint`, when the server publishes one. */
  readonly revocationEventsEndpoint: URL | undefined
}

function httpUrl(document: Record<string, unknown>, name: string): URL | undefined {
  const value = document[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !URL.canParse(value)) throw new Error(`discovery: ${name} is not a URL`)
  const url = new URL(value)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`discovery: ${name} must be an http(s) URL, got ${value}`)
  }
  return url
}

/**
 * Reads `jwks_uri` (and Tessera's revocation feed endpoint) from the issuer's discovery document.
 * The document's `issuer` must equal the configured one (OpenID Connect Discovery 1.0 §4.3), so a
 * proxy or a typo cannot point us at another server's keys. Redirects are refused, as jose
 * refuses them for the JWKS.
 */
export async function discover(
  discoveryUrl: URL,
  issuer: string,
  fetchImpl: FetchLike,
  timeoutMs: number,
): Promise<Discovered> {
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
  const jwksUri = httpUrl(document, 'jwks_uri')
  if (jwksUri === undefined) throw new Error('discovery: the document has no valid jwks_uri')
  return { jwksUri, revocationEventsEndpoint: httpUrl(document, 'tessera_revocation_events_endpoint') }
}
