/**
 * `default`, what `npm start` runs: the Fashion-MNIST subset embedded in the repository
 * (data/fashion-mnist-subset), cnn-small trained with FG-SGD (PIO grouping, Sp+Ob+St+Euc), sized
 * to finish within about three minutes on two CPU cores with the wasm backend. It is the
 * `fashion-mnist` pipeline with these defaults; every CLI option still applies.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/package_root.js';
import type { Observable } from 'rxjs';
import type { TrainEvent } from '../src/events.js';
import type { PipelineDefaults, RunOptions } from '../src/train/run.js';
import fashionMnist, { defaults as fashionMnistDefaults } from './fashion-mnist.js';

export const EMBEDDED_DATA = join(PACKAGE_ROOT, 'data', 'fashion-mnist-subset');

export const defaults: PipelineDefaults = {
  ...fashionMnistDefaults,
  // About 1.5 minutes on an idle 2-core machine (≈380 images/s), about 3 under load.
  epochs: 4,
};

export default function defaultPipeline(o: RunOptions): Observable<TrainEvent> {
  return fashionMnist({ ...o, data: o.data ?? EMBEDDED_DATA }, defaults);
}

// `npm start` runs this file: train it through the CLI (options after `npm start --` apply). Not
// a top-level await: the CLI imports this module again to load the pipeline.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void Promise.all([import('../src/cli.js'), import('./index.js')])
    .then(([{ main }, { REGISTRY }]) => main(['train', 'default', ...process.argv.slice(2)], REGISTRY))
    .then((code) => process.exit(code));
}
