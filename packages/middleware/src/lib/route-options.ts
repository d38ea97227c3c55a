/** What a route says about the tokens it takes, on top of the middleware's options. */
export interface RouteAuthOptions {
  /**
   * Accept service tokens (client credentials: `client_id`, `scope`, no `sid` or `roles`) as well
   * as user tokens. Default: the middleware's `services` option, itself `false`. Pair it with
   * `requireScope(...)` to say which services.
   */
  services?: boolean
}

/** The `services` of route options, checked once at setup. */
export function routeServices(route: RouteAuthOptions, fallback: boolean): boolean {
  if (typeof route !== 'object' || route === null) {
    throw new TypeError('@tessera/middleware: route options must be an object, e.g. { services: true }')
  }
  const { services } = route
  if (services === undefined) return fallback
  if (typeof services !== 'boolean')
    throw new TypeError('@tessera/middleware: services must be true or false')
  return services
}
