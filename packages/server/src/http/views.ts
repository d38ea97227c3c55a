import type { Session, User } from '../store/database.js'
import type { UserView } from './schemas.js'

/** The public face of a user: never the password hash. */
export const userView = (user: User): UserView => ({
  id: user.id,
  email: user.email,
  name: user.name,
  roles: user.roles,
  emailVerified: user.email_verified,
  createdAt: user.created_at.toISOString(),
})

export const sessionView = (session: Session, currentId: string) => ({
  id: session.id,
  createdAt: session.created_at.toISOString(),
  lastUsedAt: session.last_used_at.toISOString(),
  userAgent: session.user_agent,
  ip: session.ip,
  current: session.id === currentId,
})
