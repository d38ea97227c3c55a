// @tessera/middleware from its sources, so a server test can check tokens as a resource server
// does. Plain JavaScript, typed by middleware.d.ts: the middleware's sources lie outside this
// package's rootDir, which tsc refuses (TS6059); the middleware's test/helpers/server.js does the
// same the other way round.
export { createVerifier } from '../../../middleware/src/index.ts'
// resource servers on Express and on Fastify, built with the middleware as an application would
export {
  startExpressServiceApp,
  startFastifyServiceApp,
} from '../../../middleware/test/helpers/service-apps.ts'
