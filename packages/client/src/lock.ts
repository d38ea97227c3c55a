/**
 * A mutual-exclusion lock around the refresh, so one refresh runs at a time across everything
 * that shares the session (the tabs of one origin in a browser). Inject your own with the
 * `lock` option of `createClient` (tests, other runtimes).
 */
export interface RefreshLock {
  /** Runs `task` while holding the lock and settles with its outcome. */
  run<T>(task: () => Promise<T>): Promise<T>
}

/** The lock name the browser locks and channels use. */
export const REFRESH_LOCK_NAME = 'tessera-refresh'

/** No cross-context lock: enough where only one client uses the session (a Node process). */
export const noLock: RefreshLock = { run: (task) => task() }

/** The part of the Web Locks API (`navigator.locks`) this module calls. */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>
}

/** A lock over the Web Locks API, shared by every tab and worker of the origin. */
export function webLock(locks: LockManagerLike, name: string = REFRESH_LOCK_NAME): RefreshLock {
  return { run: (task) => locks.request(name, () => task()) }
}

/** `navigator.locks` when the runtime has it (browsers; not Node 20). */
export function findLockManager(): LockManagerLike | undefined {
  const { navigator } = globalThis as { navigator?: { locks?: LockManagerLike } }
  return navigator?.locks
}

export interface BroadcastLockOptions {
  /** Milliseconds a claim waits for competing claims before taking the lock. Default 50. */
  settle?: number
  /**
   * Milliseconds after which a holder that never said it released (its tab closed) stops
   * blocking the others. Default 10 000, the server's refresh-reuse grace window.
   */
  holdTimeout?: number
}

type LockMessage = { lock: 'claim' | 'held' | 'released' | 'withdrawn'; id: string }

const LOCK_KINDS: readonly string[] = ['claim', 'held', 'released', 'withdrawn']

const isLockMessage = (value: unknown): value is LockMessage =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { id?: unknown }).id === 'string' &&
  LOCK_KINDS.includes((value as { lock?: unknown }).lock as string)

/** Lets a pending timer not keep a Node process alive; browsers return a number and need nothing. */
export function unrefTimer(timer: unknown): void {
  if (typeof timer === 'object' && timer !== null && 'unref' in timer && typeof timer.unref === 'function') {
    timer.unref()
  }
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    unrefTimer(setTimeout(resolve, ms))
  })

/**
 * A best-effort lock over `BroadcastChannel`, for browsers without Web Locks. A tab claims the
 * lock, listens `settle` ms for competing claims (the lowest random id wins) and announces that
 * it holds it; the others wait for its release. Message delivery is not atomic, so two tabs may
 * rarely both proceed: the server's refresh-reuse grace window (10 s) then hands both the same
 * new token, so nobody is signed out.
 */
export function broadcastLock(
  name: string = REFRESH_LOCK_NAME,
  options: BroadcastLockOptions = {},
): RefreshLock & { close(): void } {
  const settle = options.settle ?? 50
  const holdTimeout = options.holdTimeout ?? 10_000
  if (!(settle >= 0) || !(holdTimeout > 0))
    throw new RangeError('settle must be >= 0 and holdTimeout > 0, in milliseconds')
  // a tie-breaker between tabs, not a secret
  const self = `${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`
  const channel = new BroadcastChannel(name)
  unrefTimer(channel)
  // other tabs' live claims and holds, each forgotten after a while in case its tab died
  const others = new Map<string, { kind: 'claim' | 'held'; timer: ReturnType<typeof setTimeout> }>()
  let waiters: (() => void)[] = []
  // once closed, tasks run without asking other tabs (a closed channel throws on post)
  let closed = false

  const notify = () => {
    const woken = waiters
    waiters = []
    for (const wake of woken) wake()
  }
  const forget = (id: string) => {
    const entry = others.get(id)
    if (entry) clearTimeout(entry.timer)
    others.delete(id)
  }
  channel.onmessage = (event: MessageEvent<unknown>) => {
    const message = event.data
    if (!isLockMessage(message)) return
    forget(message.id)
    if (message.lock === 'claim' || message.lock === 'held') {
      const timer = setTimeout(
        () => {
          others.delete(message.id)
          notify()
        },
        message.lock === 'held' ? holdTimeout : settle * 4 + 100,
      )
      unrefTimer(timer)
      others.set(message.id, { kind: message.lock, timer })
    }
    notify()
  }
  const post = (lock: LockMessage['lock']) => {
    if (!closed) channel.postMessage({ lock, id: self } satisfies LockMessage)
  }
  const someoneHolds = () => [...others.values()].some((entry) => entry.kind === 'held')
  const nextChange = () => new Promise<void>((resolve) => waiters.push(resolve))

  async function acquire(): Promise<void> {
    for (;;) {
      while (someoneHolds()) await nextChange()
      post('claim')
      await sleep(settle)
      const beaten = [...others].some(([id, entry]) => entry.kind === 'held' || id < self)
      if (!beaten) {
        post('held')
        return
      }
      post('withdrawn')
      // back off a random while so two losers do not keep colliding
      await sleep(settle * (1 + Math.random()))
    }
  }

  // within one tab, holders queue here; the channel arbitrates between tabs
  let queue: Promise<unknown> = Promise.resolve()
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      const result = queue.then(async () => {
        await acquire()
        try {
          return await task()
        } finally {
          post('released')
        }
      })
      queue = result.then(
        () => undefined,
        () => undefined,
      )
      return result
    },
    close() {
      closed = true
      for (const id of [...others.keys()]) forget(id)
      channel.close()
      notify()
    },
  }
}
