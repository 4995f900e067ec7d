// The process's phase as readiness sees it, and the count of requests in flight, which graceful
// shutdown waits on. One instance per process, created in deps.ts.
export type Phase = 'starting' | 'ready' | 'draining'

type Waiters = (() => void)[]

export class Lifecycle {
  /** When the process started, in epoch ms. */
  constructor(readonly startedAt: number) {}
  private current: Phase = 'starting'
  private active = 0
  private answeredReady = false
  private readonly idleWaiters: Waiters = []
  private readonly readyWaiters: Waiters = []
  private readonly readinessWaiters: Waiters = []

  get phase(): Phase {
    return this.current
  }
  get inFlight(): number {
    return this.active
  }
  markReady() {
    if (this.current !== 'starting') return
    this.current = 'ready'
    wakeAll(this.readyWaiters)
  }
  /** Resolves true once the process is past starting, or false when timeoutMs passes first. */
  async waitUntilStarted(timeoutMs: number): Promise<boolean> {
    return this.current !== 'starting' || waitOn(this.readyWaiters, timeoutMs)
  }
  /** Whether /readyz has answered 200 since the process started. */
  get readinessKnown(): boolean {
    return this.answeredReady
  }
  /** /readyz has answered 200: whoever routes traffic here (a balancer, the kubelet) knows. */
  readinessAnswered() {
    if (this.answeredReady) return
    this.answeredReady = true
    wakeAll(this.readinessWaiters)
  }
  /** Resolves once /readyz has answered 200, or after timeoutMs, whichever comes first. */
  async readinessReported(timeoutMs: number): Promise<void> {
    if (!this.answeredReady) await waitOn(this.readinessWaiters, timeoutMs)
  }
  /** From now on /readyz answers 503 so load balancers stop sending new work. */
  startDraining() {
    this.current = 'draining'
    wakeAll(this.readyWaiters)
  }
  requestStarted() {
    this.active++
  }
  requestFinished() {
    this.active--
    // Only while shutting down is anyone waiting: no new array per request otherwise.
    if (this.active === 0 && this.idleWaiters.length > 0) wakeAll(this.idleWaiters)
  }
  /** Resolves true once no request is in flight, or false when timeoutMs passes first. */
  async waitForIdle(timeoutMs: number): Promise<boolean> {
    return this.active === 0 || waitOn(this.idleWaiters, timeoutMs)
  }
}

/** Resolves true when woken through `waiters`, or false after timeoutMs (and leaves the list). */
function waitOn(waiters: Waiters, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer)
      resolve(true)
    }
    const timer = setTimeout(() => {
      const at = waiters.indexOf(wake)
      if (at >= 0) waiters.splice(at, 1)
      resolve(false)
    }, timeoutMs)
    waiters.push(wake)
  })
}

function wakeAll(waiters: Waiters) {
  for (const wake of waiters.splice(0)) wake()
}
