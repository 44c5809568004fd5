/**
 * The layers import downward only: src/ (the library) ← operators/ (the stages) ← pipelines/
 * (composition and the registry the CLI is given) ← index.ts and bin/. Every relative import of
 * every source file is resolved and checked against the layer it lands in.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

const LAYERS = ['src', 'operators', 'pipelines'] as const;
const rank = (layer: string) => (LAYERS as readonly string[]).indexOf(layer);

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

/** The relative specifiers of a source text (static imports, re-exports and dynamic imports). */
function relativeImports(text: string): string[] {
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
}

/** `file`'s imports (its text is `text`) that land in a layer above its own; and how many it has. */
function upwardImports(file: string, text: string): { upward: string[]; count: number } {
  const own = rank(file.split(sep)[0]!);
  const specs = relativeImports(text);
  const upward = specs.filter((spec) => {
    const r = rank(relative('.', normalize(join(dirname(file), spec))).split(sep)[0]!);
    // Anything outside the three layers (index.ts, bin/) is above them all.
    return r === -1 || r > own;
  });
  return { upward: upward.map((spec) => `${file} imports ${spec}`), count: specs.length };
}

t.test('no layer imports a layer above it', async (t) => {
  const upward: string[] = [];
  let checked = 0;
  for (const layer of LAYERS) {
    for (const file of files(layer)) {
      const r = upwardImports(file, readFileSync(file, 'utf8'));
      upward.push(...r.upward);
      checked += r.count;
    }
  }
  t.ok(checked > 200, `relative imports checked: ${checked}`);
  t.same(upward, [], 'upward imports');
});

t.test('the check sees upward imports of every form (control)', async (t) => {
  const text = [
    "import { readIdx } from '../../operators/readIdx.js';",
    "export { GRIDS } from '../../pipelines/grids/paper.js';",
    "const m = await import('../../index.js');",
    "import type { Sample } from '../data/types.js';",
  ].join('\n');
  t.same(upwardImports(join('src', 'train', 'x.ts'), text), {
    upward: ['../../operators/readIdx.js', '../../pipelines/grids/paper.js', '../../index.js'].map((s) => `${join('src', 'train', 'x.ts')} imports ${s}`),
    count: 4,
  });
  t.same(upwardImports(join('pipelines', 'x.ts'), "import { fit } from '../src/train/fit.js';").upward, [], 'downward is fine');
});
