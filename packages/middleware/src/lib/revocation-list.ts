/** The claims the revocation check reads. Times in seconds since the epoch. */
export interface RevocableClaims {
  readonly sub: string
  readonly sid?: string | undefined
  readonly iat: number
}

/**
 * What the revocation feed has said, held in memory: revoked session ids, per-`sub` not-before
 * times and the not-before of the last `reset`. Seconds since the epoch throughout.
 */
export interface RevocationList {
  /** Every token of session `sid` is revoked; the entry is kept until `until`. */
  revokeSession(sid: string, until: number, now: number): void
  /** Every token of `sub` with `iat` < `notBefore` is stale; the entry is kept until `until`. */
  staleBefore(sub: string, notBefore: number, until: number, now: number): void
  /** Every token with `iat` < `notBefore` is refused (the feed could not tell what was missed). */
  resetBefore(notBefore: number): void
  /** Whether the feed has revoked this token. Drops the entries whose `until` has passed first. */
  revoked(claims: RevocableClaims, now: number): boolean
  /** Drops the entries whose `until` is `now` or earlier. */
  prune(now: number): void
  /** Sessions plus subs held now. */
  readonly size: number
}

interface HeapNode {
  until: number
  kind: 'sid' | 'sub'
  id: string
}

/**
 * A {@link RevocationList} of at most `maxEntries` entries (sessions and subs together). Entries
 * sit in a min-heap by `until`, so dropping the expired ones costs a peek when there are none.
 * When the list is full, the entry that expires soonest (the new one included) is dropped: of
 * everything held it protects the shortest stretch of time (every access token it refuses
 * expires by then anyway). A replaced entry leaves a stale node in the heap, skipped when it surfaces;
 * the heap is rebuilt when stale nodes outnumber live ones.
 */
export function createRevocationList(maxEntries: number): RevocationList {
  const sessions = new Map<string, number>()
  const subs = new Map<string, { notBefore: number; until: number }>()
  let heap: HeapNode[] = []
  let resetNotBefore = Number.NEGATIVE_INFINITY

  const size = (): number => sessions.size + subs.size
  const untilOf = (node: HeapNode): number | undefined =>
    node.kind === 'sid' ? sessions.get(node.id) : subs.get(node.id)?.until
  // a node whose entry was dropped or replaced (a later until) no longer speaks for anything
  const live = (node: HeapNode): boolean => untilOf(node) === node.until

  function push(node: HeapNode): void {
    heap.push(node)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      const up = heap[parent] as HeapNode
      if (up.until <= node.until) break
      heap[i] = up
      i = parent
    }
    heap[i] = node
  }

  function pop(): HeapNode | undefined {
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= heap.length) break
      const right = left + 1
      const child =
        right < heap.length && (heap[right] as HeapNode).until < (heap[left] as HeapNode).until ? right : left
      if ((heap[child] as HeapNode).until >= last.until) break
      heap[i] = heap[child] as HeapNode
      i = child
    }
    heap[i] = last
    return top
  }

  function drop(node: HeapNode): void {
    if (node.kind === 'sid') sessions.delete(node.id)
    else subs.delete(node.id)
  }

  /** Drops stale heap nodes from the top, and live ones while `shouldDrop` says so. */
  function trim(shouldDrop: (node: HeapNode) => boolean): void {
    for (let top = heap[0]; top !== undefined; top = heap[0]) {
      if (live(top)) {
        if (!shouldDrop(top)) return
        drop(top)
      }
      pop()
    }
  }

  function compact(): void {
    if (heap.length <= 2 * maxEntries + 16) return
    const nodes = heap.filter(live)
    heap = []
    for (const node of nodes) push(node)
  }

  /**
   * Makes room for a new entry kept until `until`: when full, the entry that expires soonest goes,
   * which is the new one itself when nothing held expires sooner. Says whether to add it.
   */
  function makeRoom(until: number): boolean {
    trim(() => false)
    if (size() < maxEntries) return true
    const soonest = heap[0]
    if (soonest === undefined || soonest.until >= until) return false
    drop(soonest)
    pop()
    return true
  }

  function prune(now: number): void {
    trim((node) => node.until <= now)
  }

  return {
    revokeSession(sid, until, now) {
      prune(now)
      if (until <= now) return
      const held = sessions.get(sid)
      if (held !== undefined && held >= until) return
      if (held === undefined && !makeRoom(until)) return
      sessions.set(sid, until)
      push({ until, kind: 'sid', id: sid })
      compact()
    },
    staleBefore(sub, notBefore, until, now) {
      prune(now)
      if (until <= now) return
      const held = subs.get(sub)
      if (held !== undefined && held.notBefore >= notBefore && held.until >= until) return
      if (held === undefined && !makeRoom(until)) return
      const entry = {
        notBefore: Math.max(notBefore, held?.notBefore ?? notBefore),
        until: Math.max(until, held?.until ?? until),
      }
      subs.set(sub, entry)
      if (entry.until !== held?.until) push({ until: entry.until, kind: 'sub', id: sub })
      compact()
    },
    resetBefore(notBefore) {
      resetNotBefore = Math.max(resetNotBefore, notBefore)
    },
    revoked(claims, now) {
      prune(now)
      if (claims.iat < resetNotBefore) return true
      if (claims.sid !== undefined && sessions.has(claims.sid)) return true
      const sub = subs.get(claims.sub)
      return sub !== undefined && claims.iat < sub.notBefore
    },
    prune,
    get size() {
      return size()
    },
  }
}
