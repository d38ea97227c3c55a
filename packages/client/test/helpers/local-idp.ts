/// <reference path="../../../server/test/providers/oidc-provider.d.ts" />
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'

/** An account at the local identity provider: what its ID tokens say. */
export interface IdpAccount {
  email?: string
  email_verified?: boolean
  name?: string
}

export interface LocalIdp {
  issuer: string
  /** The accounts by login name (the development login accepts any name; it becomes the `sub`). */
  accounts: Map<string, IdpAccount>
  /**
   * Registers Tessera (client `tessera`) with these callback URLs and starts answering. Separate
   * from the start because Tessera's configuration needs the issuer, and the callbacks its port.
   */
  register(redirectUris: string[]): void
  close(): Promise<void>
}

export const IDP_CLIENT_ID = 'tessera'
export const IDP_CLIENT_SECRET = 'a-client-secret-for-tessera-0123456789'

/**
 * A real OpenID provider (panva's oidc-provider 9) on 127.0.0.1 with its development login and
 * consent pages, the email claims in the ID token itself (as Google's are).
 */
export async function startLocalIdp(): Promise<LocalIdp> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const accounts = new Map<string, IdpAccount>()
  let handler: ((request: IncomingMessage, response: ServerResponse) => void) | undefined
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (handler) handler(request, response)
    else response.writeHead(503).end()
  })
  return {
    issuer,
    accounts,
    register(redirectUris) {
      const provider = new Provider(issuer, {
        clients: [
          {
            client_id: IDP_CLIENT_ID,
            client_secret: IDP_CLIENT_SECRET,
            redirect_uris: redirectUris,
            grant_types: ['authorization_code'],
            response_types: ['code'],
          },
        ],
        claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
        conformIdTokenClaims: false,
        findAccount: async (_ctx: unknown, sub: string) => ({
          accountId: sub,
          claims: async () => ({ sub, ...(accounts.get(sub) ?? {}) }),
        }),
        cookies: { keys: ['local-idp-cookie-key-0123456789'] },
        ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
        features: { devInteractions: { enabled: true } },
      })
      handler = provider.callback()
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Tessera's environment for signing in with `idp` as the provider `acme`, returning to `redirects`. */
export const idpEnv = (idp: LocalIdp, redirects: string): Record<string, string> => ({
  TESSERA_OAUTH_PROVIDERS: 'acme',
  TESSERA_OAUTH_ACME_ISSUER: idp.issuer,
  TESSERA_OAUTH_ACME_CLIENT_ID: IDP_CLIENT_ID,
  TESSERA_OAUTH_ACME_CLIENT_SECRET: IDP_CLIENT_SECRET,
  TESSERA_OAUTH_ACME_NAME: 'Acme ID',
  TESSERA_OAUTH_REDIRECTS: redirects,
})
