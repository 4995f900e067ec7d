// What every bench script shares: run its main with a watchdog and Ctrl-C handling, always clean
// up what it started, and exit with 0 (done), 1 (failed or stopped by the watchdog) or 130 (Ctrl-C).

/** Runs `main`, then `cleanup` whatever happens, and exits the process. */
export async function runBench(
  name: string,
  main: () => Promise<void>,
  cleanup: () => Promise<void>,
  watchdogMs: number,
): Promise<never> {
  let interrupted = false
  const watchdog = setTimeout(() => {
    interrupted = true
    console.error(`${name}: still running after ${Math.round(watchdogMs / 1000)} s, stopping everything`)
    void cleanup().finally(() => process.exit(1))
  }, watchdogMs)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true
      console.error(`${name}: ${signal}, stopping everything`)
      void cleanup().finally(() => process.exit(130))
    })
  }
  let exitCode = 0
  try {
    await main()
  } catch (error) {
    if (!interrupted) console.error(`${name} failed:`, error)
    exitCode = 1
  } finally {
    await cleanup()
    clearTimeout(watchdog)
  }
  process.exit(exitCode)
}
