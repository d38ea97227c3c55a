const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A UUID in its usual text form: what PostgreSQL's `uuid` columns take without an error. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value)
