import type { VerifierOptions } from '@tessera/middleware'

/**
 * The `revocations` option of the servers/*-feed.ts resource servers, from BENCH_FEED_CLIENT_ID
 * and BENCH_FEED_CLIENT_SECRET; none (the feed off) when they are absent, so one script serves
 * both sides of the comparison and differs only in this option.
 */
export function feedFromEnv(env: NodeJS.ProcessEnv): Pick<VerifierOptions, 'revocations'> {
  const clientId = env.BENCH_FEED_CLIENT_ID
  const clientSecret = env.BENCH_FEED_CLIENT_SECRET
  if (!clientId || !clientSecret) return {}
  // the default policy: a lost feed would go unnoticed, so the server reports ready only once live
  return { revocations: { clientId, clientSecret, onFeedLost: 'accept' } }
}

interface FeedHolder {
  revocationFeed(): { state: string; entries: number; lastError: string | undefined } | undefined
}

/**
 * Resolves once the feed is live and holds at least BENCH_FEED_ENTRIES entries (at once with the
 * feed off): a benchmark against a feed still catching up would measure an emptier list.
 */
export async function feedCaughtUp(verifier: FeedHolder, env: NodeJS.ProcessEnv, timeoutMs = 60_000) {
  const wanted = Number(env.BENCH_FEED_ENTRIES ?? 0)
  const started = performance.now()
  for (;;) {
    const feed = verifier.revocationFeed()
    if (feed === undefined || (feed.state === 'live' && feed.entries >= wanted)) return
    if (performance.now() - started > timeoutMs) {
      throw new Error(`revocation feed not caught up in ${timeoutMs} ms: ${JSON.stringify(feed)}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
