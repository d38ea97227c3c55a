import type { PasskeyRecord, SessionRecord, UserRecord } from '../store/records.js'
import type { UserView } from './schemas.js'

/** The public face of a user: never the password hash. */
export const userView = (user: UserRecord): UserView => ({
  id: user.id,
  email: user.email,
  name: user.name,
  roles: user.roles,
  emailVerified: user.emailVerified,
  createdAt: user.createdAt.toISOString(),
  appMetadata: user.appMetadata,
})

export const sessionView = (session: SessionRecord, currentId: string) => ({
  id: session.id,
  createdAt: session.createdAt.toISOString(),
  lastUsedAt: session.lastUsedAt.toISOString(),
  userAgent: session.userAgent,
  ip: session.ip,
  current: session.id === currentId,
})

export const passkeyView = (passkey: PasskeyRecord) => ({
  id: passkey.id,
  name: passkey.name,
  createdAt: passkey.createdAt.toISOString(),
  lastUsedAt: passkey.lastUsedAt?.toISOString() ?? null,
  backedUp: passkey.backedUp,
})
