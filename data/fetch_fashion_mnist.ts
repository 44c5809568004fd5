/**
 * Fetch the full Fashion-MNIST (60 000 train + 10 000 test) into `data/full/fashion-mnist/`:
 * the four original gzipped IDX files and the licence. `npm run data:fashion-mnist`.
 *
 * Where apt exists, from Debian's `dataset-fashion-mnist` package (`apt-get download`, then
 * `dpkg -x`: no root needed). Elsewhere from the upstream mirror
 *   http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/
 * (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
 * t10k-labels-idx1-ubyte.gz), with Node's fetch. Every file is parsed and its count checked.
 *
 *   npx tsx data/fetch_fashion_mnist.ts [--out DIR] [--source auto|apt|http]
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { IDX_FILE_NAMES, readIdxFile } from '../src/data/idx.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const UPSTREAM = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
const LICENSE_TEXT = `Fashion-MNIST, Copyright (c) 2017 Zalando SE, https://tech.zalando.com
Source: https://github.com/zalandoresearch/fashion-mnist
License: MIT (Expat). Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions: The above copyright notice and
this permission notice shall be included in all copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
`;
const EXPECTED = { train: 60_000, test: 10_000 } as const;
const FILES = (['train', 'test'] as const).flatMap((split) => [
  { split, name: `${IDX_FILE_NAMES[split].images}.gz` },
  { split, name: `${IDX_FILE_NAMES[split].labels}.gz` },
]);

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: join(HERE, 'full', 'fashion-mnist') },
    source: { type: 'string', default: 'auto' },
  },
});

function hasApt(): boolean {
  try {
    execFileSync('apt-get', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function viaApt(out: string): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'fashion-mnist-'));
  try {
    execFileSync('apt-get', ['download', 'dataset-fashion-mnist'], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
    const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download left no .deb');
    execFileSync('dpkg', ['-x', deb, 'x'], { cwd: tmp });
    for (const { name } of FILES) await copyFile(join(tmp, 'x/usr/share/datasets/fashion-mnist', name), join(out, name));
    await copyFile(join(tmp, 'x/usr/share/doc/dataset-fashion-mnist/copyright'), join(out, 'LICENSE'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function viaHttp(out: string): Promise<void> {
  for (const { name } of FILES) {
    const url = new URL(name, UPSTREAM).href;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(url);
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        await writeFile(join(out, name), new Uint8Array(await res.arrayBuffer()));
        break;
      } catch (e) {
        if (attempt >= 3) throw new Error(`cannot download ${url}: ${(e as Error).message}`);
        await sleep(1000 * 2 ** attempt);
      }
    }
    console.log(`downloaded ${url}`);
  }
  await writeFile(join(out, 'LICENSE'), LICENSE_TEXT);
}

async function main(): Promise<void> {
  const out = args.out!;
  await mkdir(out, { recursive: true });
  const source = args.source === 'auto' ? (hasApt() ? 'apt' : 'http') : args.source;
  if (source === 'apt') await viaApt(out);
  else if (source === 'http') await viaHttp(out);
  else throw new Error(`--source must be auto, apt or http (got ${source})`);
  for (const { split, name } of FILES) {
    const a = await readIdxFile(join(out, name)); // throws with the file and offset if damaged
    if (a.shape[0] !== EXPECTED[split]) throw new Error(`${join(out, name)}: ${a.shape[0]} examples, expected ${EXPECTED[split]}`);
  }
  console.log(`Fashion-MNIST in ${out} (from ${source}): ${EXPECTED.train} train + ${EXPECTED.test} test, checked`);
}

main().catch((e) => {
  console.error(`fetch_fashion_mnist: ${(e as Error).message}`);
  process.exit(1);
});
