// A hot-swap in the middle of a run: plain momentum SGD for the first steps, then FG-SGD
// (PIO, Sp+Ob+St) from step SWAP_AT + 1 on (default 100), without stopping. What the swap does not
// name stays: the learning-rate schedule carries on, and the momentum is carried onto the new
// manifolds. The CLI's `--swap 100:optimizer=fgsgd,manifolds=Sp+Ob+St` does the same; from code a
// whole configuration can also be pushed at any moment through `configs` (an Observable).
//
//   node examples/hot-swap.mjs [OUT_DIR]
//
// MAX_STEPS (environment) stops early.
import { tap } from 'rxjs';
import { loadPipeline, runPipeline } from 'fgsgd';

const swapAt = Number(process.env.SWAP_AT ?? 100);
const defaultPipeline = await loadPipeline('default');
// The run's events pass through here too: print the swap when it happens.
const pipeline = (o) => defaultPipeline(o).pipe(tap((e) => e.type === 'optimizerSwapped' && console.log(`step ${e.step}: ${e.from} → ${e.to}`)));
const maxSteps = process.env.MAX_STEPS ? Number(process.env.MAX_STEPS) : undefined;
const { summary, exitCode } = await runPipeline(pipeline, {
  pipeline: 'default',
  optimizer: 'sgd',
  epochs: 1,
  maxSteps,
  swaps: [{ step: swapAt, changes: { optimizer: 'fgsgd', grouping: 'PIO', manifolds: 'Sp+Ob+St' } }],
  out: process.argv[2] ?? 'runs/hot-swap-example',
});
console.log(`test accuracy ${summary.testAccuracy}; the run ended with ${summary.optimizer}`);
process.exit(exitCode);
