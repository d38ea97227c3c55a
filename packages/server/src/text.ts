/**
 * Why `value` cannot be stored as text, or undefined when it can: U+0000 (PostgreSQL text refuses
 * it) or a lone surrogate (no UTF-8 form: it would be stored as U+FFFD, and two different inputs
 * would then meet in one row). The JSON parser lets both through (`"\u0000"`, `"\ud800"`).
 */
export function unstorableText(value: string): string | undefined {
  if (value.includes('\u0000')) return 'must not contain U+0000'
  if (!value.isWellFormed()) return 'must be valid Unicode'
  return undefined
}
