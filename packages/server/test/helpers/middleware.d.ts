// The few members of @tessera/middleware the server's tests use, declared here instead of
// imported; see middleware.js for why.

export interface VerifierOptions {
  /** The server's TESSERA_PUBLIC_URL, as it writes it in `iss`. */
  issuer: string
  audience: string | readonly string[]
  jwksUrl?: string | URL
  /** Seconds after a JWKS fetch in which an unknown `kid` causes no new fetch. */
  jwksCooldown?: number
  fetch?: (url: string, init: RequestInit) => Promise<Response>
}

export interface AccessClaims {
  sub: string
  sid?: string
  iss: string
  [claim: string]: unknown
}

export interface Verifier {
  verify(token: string): Promise<AccessClaims>
}

export function createVerifier(options: VerifierOptions): Verifier
