/**
 * The tutorial login: Express, bcryptjs (cost 12, pure JavaScript on the event loop) and
 * jsonwebtoken, users in memory; with the same GET /healthz as Tessera's.
 *
 * env: BENCH_USERS (count), BENCH_PASSWORD, BENCH_BCRYPT_COST, BENCH_HS256_SECRET
 */
import bcrypt from 'bcryptjs'
import express from 'express'
import jwt from 'jsonwebtoken'
import { announceReady, portOf } from './ready.js'

const count = Number(process.env.BENCH_USERS ?? 8)
const password = process.env.BENCH_PASSWORD ?? 'correct horse battery staple'
const cost = Number(process.env.BENCH_BCRYPT_COST ?? 12)
const secret = process.env.BENCH_HS256_SECRET ?? 'tutorial-secret-keep-it-safe-and-long-enough-0123456789'

const users = new Map<string, { id: string; passwordHash: string }>()
for (let i = 0; i < count; i++) {
  users.set(`bench-${i}@example.com`, { id: String(i + 1), passwordHash: await bcrypt.hash(password, cost) })
}

const app = express()
app.use(express.json())
app.post('/login', async (req, res) => {
  const { email, password: given } = req.body as { email?: string; password?: string }
  const user = email ? users.get(email) : undefined
  if (!user || !given || !(await bcrypt.compare(given, user.passwordHash))) {
    res.status(401).json({ error: 'invalid credentials' })
    return
  }
  const token = jwt.sign({ sub: user.id, email }, secret, { algorithm: 'HS256', expiresIn: '15m' })
  res.json({ token })
})
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' })
})
const server = app.listen(0, '127.0.0.1', () => announceReady(portOf(server.address())))
