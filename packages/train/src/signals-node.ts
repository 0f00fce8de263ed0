/**
 * Stopping a run by signal (Node and Deno). SIGINT (Ctrl-C) and SIGTERM (docker stop, Slurm,
 * `timeout`) both finish the step in progress, write a checkpoint and exit; the first signal is
 * acknowledged at once, saying so. A second signal stops at once without saving, removing any
 * checkpoint being written, so no partial checkpoint or temporary folder is left behind.
 * @module
 */

import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

/** The signals that stop a run. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The exit code of a process ended by `signal` (128 + its number, as shells report it). */
export function signalExitCode(signal: StopSignal): number {
  return signal === 'SIGINT' ? 130 : 143;
}

/** What {@link handleStopSignals} returns. */
export interface StopHandle {
  /** The first signal received, or null. */
  readonly signal: StopSignal | null;
  /** Tells the handler which step is being worked on (for the acknowledgement). */
  setStep(step: number): void;
  /** Removes the handlers. */
  dispose(): void;
}

/** Removes the temporary folders of a checkpoint being written (`.step-*.tmp-*`). */
export function removeCheckpointTemps(checkpointDir: string): void {
  let names: string[];
  try {
    names = readdirSync(checkpointDir);
  } catch {
    return;
  }
  for (const n of names) if (/^\.step-\d+\.tmp-/.test(n)) rmSync(join(checkpointDir, n), { recursive: true, force: true });
}

/**
 * Installs SIGINT and SIGTERM handlers for a run (`write` should be synchronous, e.g.
 * `fs.writeSync(2, s)`, so the last message is out before the process exits): the first signal prints `finishing step N, then
 * saving; press Ctrl-C again to stop without saving` to `write` and sets `signal` (the trainer stops
 * after the step and checkpoints); a second one removes the checkpoint being written in
 * `checkpointDir`, prints where the last complete checkpoint is, and exits with 128 + the signal
 * number.
 */
export function handleStopSignals(o: { write: (s: string) => void; checkpointDir: string; lastGood: () => { dir: string; step: number } | null }): StopHandle {
  let signal: StopSignal | null = null;
  let step = 0;
  const on = (sig: StopSignal) => () => {
    if (signal === null) {
      signal = sig;
      o.write(`\nkdgpu: ${sig}: finishing step ${step}, then saving a checkpoint; press Ctrl-C again to stop without saving\n`);
      return;
    }
    removeCheckpointTemps(o.checkpointDir);
    const last = o.lastGood();
    o.write(`\nkdgpu: ${sig}, a second signal: stopped without saving. ${last ? `The last checkpoint is ${last.dir} (step ${last.step}); --resume continues from it.` : 'No checkpoint was written.'}\n`);
    process.exit(signalExitCode(sig));
  };
  const onInt = on('SIGINT');
  const onTerm = on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    get signal() {
      return signal;
    },
    setStep(n) {
      step = n;
    },
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
