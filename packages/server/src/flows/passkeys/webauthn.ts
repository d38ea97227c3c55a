/**
 * @simplewebauthn/server, loaded at the first passkey ceremony: with its certificate parsers it is
 * about 15 MB that a server whose users never use a passkey does not need to hold.
 */
export const webauthn = (): Promise<typeof import('@simplewebauthn/server')> =>
  import('@simplewebauthn/server')
