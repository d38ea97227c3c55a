/** One invalid variable (or command-line option) and what it expects. */
export interface ConfigProblem {
  readonly variable: string
  readonly message: string
}

/**
 * The configuration cannot be used. `errors` lists every invalid variable, in the order of the
 * configuration table, so one start-up names them all; `variable` is the first of them.
 */
export class ConfigError extends Error {
  readonly variable: string
  readonly errors: readonly [ConfigProblem, ...ConfigProblem[]]

  constructor(variable: string, message: string)
  constructor(errors: readonly [ConfigProblem, ...ConfigProblem[]])
  constructor(first: string | readonly [ConfigProblem, ...ConfigProblem[]], message = '') {
    const errors: readonly [ConfigProblem, ...ConfigProblem[]] =
      typeof first === 'string' ? [{ variable: first, message }] : first
    // one problem reads as before (`PORT: expected …`); several get a line each under a count
    super(
      errors.length === 1
        ? line(errors[0])
        : `${errors.length} configuration variables are invalid:\n${errors.map((e) => `  ${line(e)}`).join('\n')}`,
    )
    this.name = 'ConfigError'
    this.variable = errors[0].variable
    this.errors = errors
  }
}

const line = ({ variable, message }: ConfigProblem): string => `${variable}: ${message}`
