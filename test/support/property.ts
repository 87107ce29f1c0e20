/**
 * How the property-based tests report: a failure names its seed and path and says how to replay it,
 * a pass names the seed it ran with.
 */
import fc from 'fast-check'
import type { Test } from 'tap'

/** Reports what `fc.check` found; `file` is the test file to replay the failure with. */
export function reportProperty<T>(t: Test, details: fc.RunDetails<T>, file: string): void {
  if (details.failed) {
    const replay = `FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''} npx tap --disable-coverage ${file}`
    t.fail(`property failed after ${details.numRuns} runs: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`, {
      seed: details.seed,
      path: details.counterexamplePath,
      replay,
      counterexample: fc.stringify(details.counterexample),
    })
    t.comment(`replay with: ${replay}`)
  } else {
    t.pass(`${details.numRuns} runs passed (seed ${details.seed})`)
  }
}
