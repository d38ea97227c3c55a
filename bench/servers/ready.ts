/**
 * Tells the harness this server listens on `port`, and ends the process when the harness goes
 * away (its IPC channel closes), so no server outlives a crashed run.
 */
export function announceReady(port: number): void {
  process.on('disconnect', () => process.exit(0))
  process.send?.({ type: 'ready', port })
}

/** The port a listening Node server got. */
export function portOf(address: unknown): number {
  if (typeof address === 'object' && address !== null && 'port' in address) return Number(address.port)
  throw new Error(`not a TCP address: ${String(address)}`)
}
