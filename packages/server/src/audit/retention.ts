import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { AuthEventStore } from '../store/auth-events.js'

/**
 * Deletes audit events older than TESSERA_AUDIT_RETENTION; for the periodic housekeeping job.
 * Answers how many rows went.
 */
export function pruneAuditLog(deps: {
  store: Pick<AuthEventStore, 'deleteOlderThan'>
  clock: Clock
  config: Pick<Config, 'auditRetention'>
}): Promise<number> {
  const cutoff = new Date(deps.clock.now().getTime() - deps.config.auditRetention * 1000)
  return deps.store.deleteOlderThan(cutoff)
}
