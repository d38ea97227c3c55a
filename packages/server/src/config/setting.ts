import type { Parser } from './parsers.js'
import type { Config, HashingConfig, LockoutConfig, RateLimit, RateLimitName } from './types.js'

/**
 * What the table reads, one field per variable: the fields of {@link Config}, its nested ones
 * written `group.key` (`limits.login`), and inputs that only shape a default (`threadPoolSize`).
 * `parseConfig` assembles the Config from it.
 */
export type Values = Omit<Config, 'hashing' | 'lockout' | 'limits' | 'oauthProviders'> & {
  readonly [K in keyof HashingConfig as `hashing.${K}`]: HashingConfig[K]
} & { readonly [K in keyof LockoutConfig as `lockout.${K}`]: LockoutConfig[K] } & {
  readonly [K in RateLimitName as `limits.${K}`]: RateLimit
} & {
  /** UV_THREADPOOL_SIZE, which Node reads; here only for the default of TESSERA_HASH_CONCURRENCY. */
  readonly threadPoolSize: number
}
export type Field = keyof Values

/** The values read so far: a field is present once its variable was read without error. */
export type Draft = { -readonly [F in Field]?: Values[F] }

/**
 * What an unset variable means:
 * - text, read as if the variable held it (`'15m'`);
 * - a function of the fields read before it in the table (`http://localhost:$PORT`), giving the
 *   value itself, or `undefined` when a field it needs is invalid (that field's error says why);
 *   it may throw a `ConfigError` when there is no default (TESSERA_PUBLIC_URL in production);
 * - no `default` at all: the field is `undefined` (allowed only where the field may be).
 */
export type Default<T> = string | ((values: Draft) => T | undefined)

interface SettingFields<F extends Field> {
  readonly variable: string
  readonly group: GroupId
  /** The field of {@link Values} this variable fills. */
  readonly field: F
  readonly parse: Parser<Values[F]>
  /** The default as the docs show it, in markdown; unless said, the text default in backticks, or "unset". */
  readonly shown?: string
  /** What the variable does, for the docs: markdown, one table cell. */
  readonly doc: string
}

/** A field that may be undefined may leave out its default; any other needs one. */
type SettingOf<F extends Field> = SettingFields<F> &
  (undefined extends Values[F]
    ? { readonly default?: Default<Values[F]> }
    : { readonly default: Default<Values[F]> })

/** One row of the table: a variable, how it is read, where it goes and what the docs say of it. */
export type Setting<F extends Field = Field> = { [K in F]: SettingOf<K> }[F]

/** The topics of the generated page, in order. */
export const GROUPS = [
  { id: 'server', title: 'Server' },
  { id: 'tokens', title: 'Tokens and sessions' },
  { id: 'keys', title: 'Secrets and signing keys' },
  { id: 'storage', title: 'Database and Redis' },
  { id: 'accounts', title: 'Passwords and accounts' },
  { id: 'providers', title: 'Sign in with providers' },
  { id: 'mail', title: 'Mail and one-time links' },
  { id: 'limits', title: 'Rate limits and lockout' },
  { id: 'hashing', title: 'Password hashing capacity' },
  { id: 'operations', title: 'Observability and housekeeping' },
  { id: 'webhooks', title: 'Webhooks' },
] as const
export type GroupId = (typeof GROUPS)[number]['id']
