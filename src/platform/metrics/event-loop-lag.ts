// Event-loop lag measured portably: how late a repeating timer fires. Works the same on Bun
// and Node (perf_hooks.monitorEventLoopDelay is Node-specific).
export type EventLoopLag = { lastMs(): number; maxMs(): number; stop(): void }

// Once a second: a stall long enough to matter (the alert is at 0.5 s) still shows, and an idle
// process wakes once a second for it instead of twice (issue 17: idle CPU).
export function monitorEventLoopLag(intervalMs = 1000): EventLoopLag {
  let last = 0
  let max = 0
  let expected = performance.now() + intervalMs
  const timer = setInterval(() => {
    const now = performance.now()
    last = Math.max(0, now - expected)
    max = Math.max(max, last)
    expected = now + intervalMs
  }, intervalMs)
  timer.unref?.()
  return { lastMs: () => last, maxMs: () => max, stop: () => clearInterval(timer) }
}
