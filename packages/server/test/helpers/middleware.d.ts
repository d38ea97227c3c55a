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
  /** The current time, for `exp`, `nbf` and `iat`. Default the system clock. */
  clock?: { now(): Date }
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

export interface RevocationFeedOptions {
  clientId: string
  clientSecret: string
  url?: string | URL
  onFeedLost?: 'accept' | 'reject'
  /** Seconds. */
  reconnectDelay?: number
  /** Seconds. */
  maxReconnectDelay?: number
}

export interface RevocationFeedStatus {
  state: 'connecting' | 'live' | 'lost' | 'closed'
  lastEventId: string | undefined
}

export interface ServiceVerifier extends Verifier {
  revocationFeed(): RevocationFeedStatus | undefined
  close(): Promise<void>
}

export interface ServiceAppOptions extends VerifierOptions {
  revocations?: RevocationFeedOptions
}

export interface ServiceAppAnswer {
  status: number
  body: Record<string, unknown> | undefined
}

/** A resource server whose `/me` needs a user token: `{ auth }` with the verified claims. */
export interface ServiceApp {
  url: string
  verifier: ServiceVerifier
  get(path: string, headers?: Record<string, string>): Promise<ServiceAppAnswer>
  close(): Promise<void>
}

export function startExpressServiceApp(options: ServiceAppOptions): Promise<ServiceApp>
export function startFastifyServiceApp(options: ServiceAppOptions): Promise<ServiceApp>
