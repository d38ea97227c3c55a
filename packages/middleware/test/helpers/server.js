// The in-process Tessera server, loaded by vitest from the server's sources. This file is plain
// JavaScript, typed by server.d.ts, so that type-checking the middleware does not pull in the
// server's own `declare module 'fastify'` (its FastifyRequest.auth has another type than ours).
export { parseConfig } from '../../../server/src/config.ts'
export { rotateKey } from '../../../server/src/flows/keys.ts'
export { createPasswordHasher } from '../../../server/src/passwords/hasher.ts'
export { createTessera } from '../../../server/src/tessera.ts'
export { migratedPgliteHandle } from '../../../server/test/helpers/pglite-snapshot.ts'
