// Where argon2id runs: never on the event loop. One hash costs tens of milliseconds of CPU; on
// the loop it held up every other request for that long. A small worker_threads pool hashes, at a
// lower CPU priority than the event loop, so a sign-in storm uses the CPU the loop leaves free
// instead of delaying every other request: in the compiled binary each thread calls
// Bun.password's synchronous argon2id (native), on Node hash-wasm. Both produce and verify the
// same PHC strings ($argon2id$v=19$m=..,t=..,p=..), so a hash made by one verifies in the other. In
// front of either: a bound on hashes waiting, so a storm is refused with 503 instead of queueing
// without end.
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { UnavailableError } from '../http/errors.ts'

export type Argon2Params = { memoryKib: number; iterations: number; parallelism: number }

/** Something that runs argon2id off the event loop. `password` is already NFC-normalised;
 * `encoded` has passed argon2idHashProblem. */
export type PasswordHasher = {
  hash(password: string, params: Argon2Params): Promise<string>
  verify(password: string, encoded: string): Promise<boolean>
  /** Stops its threads; hashes still waiting are refused. */
  close(): Promise<void>
}

// Bounds both libraries accept: salt of at least 8 bytes, output of at least 4, and no more
// memory or passes than PGA_ARGON2_MEMORY_KIB / PGA_ARGON2_ITERATIONS allow.
const phc = /^\$argon2id\$v=(\d+)\$m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/
const maxMemoryKib = 4_194_304
const maxIterations = 20
const base64Bytes = (text: string) => (text.length % 4 === 1 ? -1 : Math.floor((text.length * 3) / 4))

/** Why a stored password hash cannot be verified, or null when it is an argon2id PHC string this
 * service can check. Refused before any hashing: Bun.password would also accept bcrypt. */
export function argon2idHashProblem(encoded: string): string | null {
  if (!encoded.startsWith('$argon2id$')) return 'not an argon2id hash'
  const match = phc.exec(encoded)
  if (!match) return 'not a PHC string ($argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>)'
  const [version, m, t, p, salt, hash] = match.slice(1) as [string, string, string, string, string, string]
  if (version !== '19') return `argon2 version ${version} is not supported (only 19)`
  const [memory, passes, lanes] = [Number(m), Number(t), Number(p)]
  if (lanes < 1) return 'the lane count must be at least 1'
  if (memory < 8 * lanes || memory > maxMemoryKib)
    return `the memory (m=${memory}) must be between ${8 * lanes} and ${maxMemoryKib} KiB`
  if (passes < 1 || passes > maxIterations)
    return `the passes (t=${passes}) must be between 1 and ${maxIterations}`
  if (base64Bytes(salt) < 8) return 'the salt must be at least 8 bytes of unpadded base64'
  if (base64Bytes(hash) < 4) return 'the hash must be at least 4 bytes of unpadded base64'
  return null
}

/** At most `maxPending` hashes running or waiting; beyond that, 503 password_hashing_busy. */
export function limitPending(inner: PasswordHasher, maxPending: number): PasswordHasher {
  let pending = 0
  const admit = <T>(work: () => Promise<T>): Promise<T> => {
    if (pending >= maxPending)
      return Promise.reject(
        new UnavailableError(
          'password_hashing_busy',
          'Too many sign-ins and password changes are being processed; retry in a moment.',
          1,
        ),
      )
    pending++
    return work().finally(() => pending--)
  }
  return {
    hash: (password, params) => admit(() => inner.hash(password, params)),
    verify: (password, encoded) => admit(() => inner.verify(password, encoded)),
    close: () => inner.close(),
  }
}

/** How many hashes may wait per thread: at ~50-70 ms a hash, about two seconds of work. */
export const pendingPerThread = 32

// Plain JavaScript evaluated in each worker (CommonJS), so it needs no file next to the bundle.
// Worker threads run at a lower priority (Linux: setpriority on the calling thread), so the
// event loop gets the CPU first when both want it. `argon2` is the engine's code: it defines
// hash(password, params) and verify(password, encoded), both returning promises.
const workerSource = (argon2: string) => `
const { parentPort, workerData } = require('node:worker_threads')
try { require('node:os').setPriority(workerData.nice) } catch {}
${argon2}
parentPort.on('message', async (job) => {
  try {
    const value = job.op === 'hash' ? await hash(job.password, job.params) : await verify(job.password, job.encoded)
    parentPort.postMessage({ value })
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.message) || error) })
  }
})
`

/** hash-wasm (WebAssembly), for Node: its module path is resolved by the pool. */
const hashWasmEngine = `
const { randomBytes } = require('node:crypto')
const { argon2id, argon2Verify } = require(workerData.hashWasm)
const hash = (password, params) =>
  argon2id({
    password,
    salt: randomBytes(16),
    memorySize: params.memoryKib,
    iterations: params.iterations,
    parallelism: params.parallelism,
    hashLength: 32,
    outputType: 'encoded',
  })
const verify = (password, encoded) => argon2Verify({ password, hash: encoded })
`

/** Bun.password, native, in the compiled binary. Its salt is 32 bytes where hash-wasm's is 16, and
 * each verifies the other's hashes (test/e2e/binary.test.ts). One lane only: the configuration's. */
const bunEngine = `
const hash = async (password, params) => {
  if (params.parallelism !== 1) throw new Error('Bun.password hashes argon2id with one lane (p=1) only')
  return Bun.password.hashSync(password, { algorithm: 'argon2id', memoryCost: params.memoryKib, timeCost: params.iterations })
}
const verify = async (password, encoded) => Bun.password.verifySync(password, encoded, 'argon2id')
`

type Job = {
  message:
    | { op: 'hash'; password: string; params: Argon2Params }
    | { op: 'verify'; password: string; encoded: string }
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

/** argon2id on worker_threads (hash-wasm, or Bun.password in Bun): `size` threads started on
 * first use, one hash each at a time, the rest queued here. Idle threads are unref'd, so they
 * never keep the process alive, and end after `idleMs` without work: each holds a runtime of its
 * own (about 4 MiB of private memory in the binary), and sign-ins come in bursts. */
export function workerPoolHasher(
  options: { size?: number; nice?: number; engine?: 'hash-wasm' | 'bun'; idleMs?: number } = {},
): PasswordHasher & { readonly threads: number } {
  const source = workerSource(options.engine === 'bun' ? bunEngine : hashWasmEngine)
  const size = Math.max(1, options.size ?? availableParallelism())
  let hashWasm: string | undefined
  const idle: Worker[] = []
  const running = new Map<Worker, Job>()
  const queue: Job[] = []
  const idleTimers = new Map<Worker, ReturnType<typeof setTimeout>>()
  let threads = 0
  let closed = false

  const stopIdleTimer = (worker: Worker) => {
    clearTimeout(idleTimers.get(worker))
    idleTimers.delete(worker)
  }
  /** Takes the worker out of the idle list; false when it was not in it. */
  const leaveIdle = (worker: Worker) => {
    const at = idle.indexOf(worker)
    if (at >= 0) idle.splice(at, 1)
    return at >= 0
  }
  // Out of the idle list before it is told to end, so no job is given to a thread that is ending.
  const retire = (worker: Worker) => {
    idleTimers.delete(worker)
    if (leaveIdle(worker)) void worker.terminate()
  }
  const dispatch = (worker: Worker, job: Job) => {
    stopIdleTimer(worker)
    running.set(worker, job)
    worker.ref()
    worker.postMessage(job.message)
  }
  const next = (worker: Worker) => {
    const job = queue.shift()
    if (job) return dispatch(worker, job)
    worker.unref()
    idle.push(worker)
    const timer = setTimeout(() => retire(worker), options.idleMs ?? 60_000)
    timer.unref()
    idleTimers.set(worker, timer)
  }
  const start = (): Worker => {
    if (options.engine !== 'bun') hashWasm ??= createRequire(import.meta.url).resolve('hash-wasm')
    const worker = new Worker(source, { eval: true, workerData: { hashWasm, nice: options.nice ?? 10 } })
    threads++
    worker.on('message', (reply: { value?: unknown; error?: string }) => {
      const job = running.get(worker)
      running.delete(worker)
      if (reply.error !== undefined) job?.reject(new Error(`argon2id failed: ${reply.error}`))
      else job?.resolve(reply.value)
      next(worker)
    })
    worker.on('error', (error) => {
      running.get(worker)?.reject(error)
      running.delete(worker)
    })
    worker.on('exit', (code) => {
      threads--
      stopIdleTimer(worker)
      leaveIdle(worker)
      running.get(worker)?.reject(new Error(`the password hashing thread stopped (exit code ${code})`))
      running.delete(worker)
      // A lost thread is replaced while work waits.
      const waiting = !closed && queue.shift()
      if (waiting) dispatch(start(), waiting)
    })
    return worker
  }
  const submit = <T>(message: Job['message']) =>
    new Promise<T>((resolve, reject) => {
      if (closed) return reject(new Error('password hashing has stopped'))
      const job: Job = { message, resolve: resolve as (value: unknown) => void, reject }
      const worker = idle.pop() ?? (threads < size ? start() : undefined)
      if (worker) dispatch(worker, job)
      else queue.push(job)
    })

  return {
    get threads() {
      return threads
    },
    hash: (password, params) => submit<string>({ op: 'hash', password, params }),
    verify: (password, encoded) => submit<boolean>({ op: 'verify', password, encoded }),
    async close() {
      closed = true
      for (const timer of idleTimers.values()) clearTimeout(timer)
      idleTimers.clear()
      for (const job of queue.splice(0)) job.reject(new Error('password hashing has stopped'))
      await Promise.all([...idle, ...running.keys()].map((worker) => worker.terminate()))
    },
  }
}
