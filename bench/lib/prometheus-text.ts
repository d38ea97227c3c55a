/**
 * The samples without labels of a Prometheus text exposition (`name value`), by name: what the
 * soak reads from `/metrics` (`nodejs_heap_size_used_bytes`, `nodejs_eventloop_lag_p99_seconds`,
 * `process_resident_memory_bytes`, ...). Labelled samples and comments are skipped.
 */
export function unlabelledSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)/.exec(line)
    if (!match?.[1] || match[2] === undefined) continue
    const value = Number(match[2])
    if (!Number.isNaN(value)) samples.set(match[1], value)
  }
  return samples
}
