// The members of oidc-provider 9 (which ships no types) that the tests use to run a local IdP.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'

  interface Account {
    accountId: string
    claims(): Promise<Record<string, unknown>>
  }

  interface Configuration {
    clients?: Record<string, unknown>[]
    claims?: Record<string, string[]>
    conformIdTokenClaims?: boolean
    findAccount?: (ctx: unknown, sub: string) => Promise<Account | undefined>
    cookies?: { keys: string[] }
    ttl?: Record<string, number>
    features?: Record<string, { enabled: boolean }>
  }

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration)
    callback(): (request: IncomingMessage, response: ServerResponse) => void
  }
}
