import type { AuthEventRecord } from '../../store/records.js'
import type { FlowDeps } from '../deps.js'
import { decodeCursor, encodeCursor } from './cursor.js'

export interface AuditQueryInput {
  userId?: string | undefined
  type?: string | undefined
  since?: Date | undefined
  until?: Date | undefined
  limit: number
  cursor?: string | undefined
}

/** GET /admin/audit: a page of the audit log, newest first, and the cursor of the next page. */
export async function queryAuditLog(
  deps: Pick<FlowDeps, 'stores'>,
  input: AuditQueryInput,
): Promise<{ events: AuthEventRecord[]; nextCursor: string | null }> {
  const page = await deps.stores.authEvents.query({
    userId: input.userId,
    type: input.type,
    since: input.since,
    until: input.until,
    limit: input.limit,
    before: input.cursor === undefined ? undefined : decodeCursor(input.cursor),
  })
  return { events: page.events, nextCursor: page.next ? encodeCursor(page.next) : null }
}
