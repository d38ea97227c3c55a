import { ConfigError, type ConfigProblem } from './config-error.js'
import { type OAuthProviderConfig, readOAuthProviders } from './oauth-providers.js'
import type { ParseContext } from './parsers.js'
import { RULES } from './rules.js'
import type { Draft, Field, Setting, Values } from './setting.js'
import { SETTINGS } from './table.js'
import type { Config } from './types.js'

type Env = Readonly<Record<string, string | undefined>>

/**
 * Reads the environment once, through the table of settings (table.ts) and the rules across them
 * (rules.ts). Every invalid value is reported at once, in one {@link ConfigError} that names each
 * bad variable and what it expects. An empty or blank variable counts as unset.
 */
export function parseConfig(env: Env, cwd: string = process.cwd()): Config {
  const values: Draft = {}
  const problems: ConfigProblem[] = []
  for (const setting of SETTINGS) {
    try {
      read(setting, env[setting.variable], values, { cwd })
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      problems.push(...error.errors)
    }
  }
  // a family of variables per provider id, which the table of single variables cannot list
  const oauth =
    values.oauthProviderIds === undefined
      ? { providers: [], problems: [] }
      : readOAuthProviders(env, values.oauthProviderIds, values.production ?? false)
  problems.push(...oauth.problems)
  for (const rule of RULES) {
    const message = rule.check(values)
    if (message !== undefined) problems.push({ variable: rule.variable, message })
  }
  const [first, ...more] = inTableOrder(problems)
  if (first) throw new ConfigError([first, ...more])
  if (!isComplete(values)) {
    // a default that found no field to derive from, although none was invalid: a bug in the table
    const missing = SETTINGS.filter((setting) => !(setting.field in values)).map(
      (setting) => setting.variable,
    )
    throw new Error(
      `configuration table: ${missing.join(', ')} read no value; is a default above its inputs?`,
    )
  }
  return assemble(values, oauth.providers)
}

/** Puts the variable's value, or its default, into `values`; throws a ConfigError naming it. */
function read<F extends Field>(
  setting: Setting<F>,
  given: string | undefined,
  values: Draft,
  context: ParseContext,
): void {
  const raw = given?.trim()
  const fallback = setting.default
  if (raw !== undefined && raw !== '') values[setting.field] = setting.parse(setting.variable, raw, context)
  else if (typeof fallback === 'string')
    values[setting.field] = setting.parse(setting.variable, fallback, context)
  else if (fallback === undefined) values[setting.field] = undefined
  else {
    const derived = fallback(values)
    // nothing to derive from: the field it needs was invalid, and its own error says so
    if (derived !== undefined) values[setting.field] = derived
  }
}

const position = new Map<string, number>(SETTINGS.map((setting, index) => [setting.variable, index]))
/** A provider's own variable (`TESSERA_OAUTH_ACME_ISSUER`) is reported where TESSERA_OAUTH_PROVIDERS is. */
const rank = (variable: string): number =>
  position.get(variable) ??
  (variable.startsWith('TESSERA_OAUTH_') ? position.get('TESSERA_OAUTH_PROVIDERS') : undefined) ??
  0

/** One problem per variable (the first found), in the order of the table. */
function inTableOrder(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>()
  return problems
    .filter(({ variable }) => !seen.has(variable) && seen.add(variable))
    .sort((a, b) => rank(a.variable) - rank(b.variable))
}

function isComplete(values: Draft): values is Values {
  return SETTINGS.every((setting) => setting.field in values)
}

/** The frozen Config: the table's fields, with the nested ones gathered into their objects. */
function assemble(values: Values, oauthProviders: readonly OAuthProviderConfig[]): Config {
  const {
    threadPoolSize: _onlyForADefault,
    'hashing.concurrency': concurrency,
    'hashing.loopDelay': loopDelay,
    'hashing.maxQueue': maxQueue,
    'hashing.maxWait': maxWait,
    'lockout.threshold': threshold,
    'lockout.duration': duration,
    'lockout.window': window,
    'limits.login': login,
    'limits.loginFailed': loginFailed,
    'limits.register': register,
    'limits.mailPerEmail': mailPerEmail,
    'limits.mailPerIp': mailPerIp,
    'limits.tokenUse': tokenUse,
    'limits.passwordChange': passwordChange,
    'limits.refresh': refresh,
    'limits.logout': logout,
    'limits.oauth': oauth,
    'limits.passkey': passkey,
    ...config
  } = values
  return Object.freeze({
    ...config,
    oauthProviders: Object.freeze([...oauthProviders]),
    hashing: Object.freeze({ concurrency, loopDelay, maxQueue, maxWait }),
    lockout: Object.freeze({ threshold, duration, window }),
    limits: Object.freeze({
      login,
      loginFailed,
      register,
      mailPerEmail,
      mailPerIp,
      tokenUse,
      passwordChange,
      refresh,
      logout,
      oauth,
      passkey,
    }),
  })
}
