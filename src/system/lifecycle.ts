// The process's phase as readiness sees it, and the count of requests in flight, which graceful
// shutdown waits on. One instance per process, created in deps.ts.
export type Phase = 'starting' | 'ready' | 'draining'

export class Lifecycle {
  /** When the process started, in epoch ms. */
  constructor(readonly startedAt: number) {}
  private current: Phase = 'starting'
  private active = 0
  private idleWaiters: (() => void)[] = []
  private readyWaiters: (() => void)[] = []
  private readinessAnsweredAt: number | undefined
  private readinessWaiters: (() => void)[] = []

  get phase(): Phase {
    return this.current
  }
  get inFlight(): number {
    return this.active
  }
  markReady() {
    if (this.current !== 'starting') return
    this.current = 'ready'
    for (const wake of this.readyWaiters.splice(0)) wake()
  }
  /** Resolves true once the process is past starting, or false when timeoutMs passes first. */
  async waitUntilStarted(timeoutMs: number): Promise<boolean> {
    if (this.current !== 'starting') return true
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== wake)
        resolve(false)
      }, timeoutMs)
      this.readyWaiters.push(wake)
    })
  }
  /** Whether /readyz has answered 200 since the process started. */
  get readinessKnown(): boolean {
    return this.readinessAnsweredAt !== undefined
  }
  /** /readyz has answered 200: whoever routes traffic here (a balancer, the kubelet) knows. */
  readinessAnswered() {
    if (this.readinessAnsweredAt !== undefined) return
    this.readinessAnsweredAt = Date.now()
    for (const wake of this.readinessWaiters.splice(0)) wake()
  }
  /** Resolves once /readyz has answered 200, or after timeoutMs, whichever comes first. */
  readinessReported(timeoutMs: number): Promise<void> {
    if (this.readinessAnsweredAt !== undefined) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        this.readinessWaiters = this.readinessWaiters.filter((w) => w !== wake)
        resolve()
      }, timeoutMs)
      this.readinessWaiters.push(wake)
    })
  }
  /** From now on /readyz answers 503 so load balancers stop sending new work. */
  startDraining() {
    this.current = 'draining'
    for (const wake of this.readyWaiters.splice(0)) wake()
  }
  requestStarted() {
    this.active++
  }
  requestFinished() {
    this.active--
    // Only while shutting down is anyone waiting: no new array per request otherwise.
    if (this.active === 0 && this.idleWaiters.length > 0)
      for (const wake of this.idleWaiters.splice(0)) wake()
  }
  /** Resolves true once no request is in flight, or false when timeoutMs passes first. */
  async waitForIdle(timeoutMs: number): Promise<boolean> {
    if (this.active === 0) return true
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }
}
