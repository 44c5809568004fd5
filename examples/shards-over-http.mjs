// Training from tar shards over HTTP: shards are made from the subset that ships with the
// package, served on 127.0.0.1, and read by the built-in image pipeline through a WebDataset
// brace pattern, exactly as `fgsgd train image-folder --data 'http://...'` would.
//
//   node examples/shards-over-http.mjs [OUT_DIR]
//
// MAX_STEPS (environment) stops early, for a quick try.
import { createServer } from 'node:http';
import { readFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPipeline, makeShards, runPipeline } from 'fgsgd';

const packageDir = dirname(fileURLToPath(import.meta.resolve('fgsgd/package.json')));
const shards = await mkdtemp(join(tmpdir(), 'fgsgd-shards-'));
const made = await makeShards(join(packageDir, 'data', 'fashion-mnist-subset'), shards, 3000);
console.log(`${made.train.samples} training samples in ${made.train.shards.length} shards`);

const server = createServer(async (req, res) => {
  try {
    const body = await readFile(join(shards, new URL(req.url, 'http://x').pathname));
    res.writeHead(200, { 'content-length': body.length }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/train-{0000..${String(made.train.shards.length - 1).padStart(4, '0')}}.tar`;

const maxSteps = process.env.MAX_STEPS ? Number(process.env.MAX_STEPS) : undefined;
const { summary, exitCode } = await runPipeline(await loadPipeline('image-folder'), {
  pipeline: 'image-folder', data: url, model: 'cnn-small', epochs: 1, maxSteps, out: process.argv[2] ?? 'runs/shards-example',
});
server.close();
console.log(`test accuracy ${summary.testAccuracy} after ${summary.images} images read from ${url}`);
process.exit(exitCode);
