// The part of jsonwebtoken 9's API the tutorial stack uses (no @types package in this workspace).
declare module 'jsonwebtoken' {
  interface SignOptions {
    algorithm?: 'HS256'
    expiresIn?: string | number
  }
  interface VerifyOptions {
    algorithms?: 'HS256'[]
  }
  function sign(payload: object, secret: string, options?: SignOptions): string
  function verify(
    token: string,
    secret: string,
    options: VerifyOptions,
    callback: (error: Error | null, payload: unknown) => void,
  ): void
  const jwt: { sign: typeof sign; verify: typeof verify }
  export default jwt
}
