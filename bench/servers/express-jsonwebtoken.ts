/**
 * The tutorial stack: Express + jsonwebtoken, HS256 under a string secret, the `authenticateToken`
 * middleware most tutorials print (with the algorithm pinned, as jsonwebtoken 9 advises).
 */
import express, { type NextFunction, type Request, type Response } from 'express'
import jwt from 'jsonwebtoken'
import { announceReady, portOf } from './ready.js'

const SECRET = process.env.BENCH_HS256_SECRET
if (!SECRET) throw new Error('BENCH_HS256_SECRET is required')
const secret = SECRET

function authenticateToken(req: Request, res: Response, next: NextFunction) {
  const authHeader = req.headers.authorization
  const token = authHeader?.split(' ')[1]
  if (!token) {
    res.sendStatus(401)
    return
  }
  jwt.verify(token, secret, { algorithms: ['HS256'] }, (error, user) => {
    if (error) {
      res.sendStatus(403)
      return
    }
    res.locals.user = user
    next()
  })
}

const app = express()
app.get('/api/profile', authenticateToken, (_req, res) => {
  res.json({ sub: (res.locals.user as { sub?: string }).sub })
})
const server = app.listen(0, '127.0.0.1', () => announceReady(portOf(server.address())))
