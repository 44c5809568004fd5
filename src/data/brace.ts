/**
 * WebDataset's shard patterns: `{0000..0099}` (a zero-padded numeric range) and `{a,b,c}` (a
 * list), expanded left to right; and the name of the class list that lives beside shards.
 */

/**
 * The index beside the shards (`fgsgd make-shards` writes it): class names in id order, and each
 * split's shard file names and sample count.
 */
export const SHARDS_INDEX = 'shards.json';

export interface ShardsIndex {
  classes: string[];
  train: { shards: string[]; samples: number };
  test: { shards: string[]; samples: number };
}

/** Expand `{0000..0099}` ranges and `{a,b}` lists in a shard pattern (WebDataset's brace notation). */
export function expandBraces(pattern: string): string[] {
  const m = /\{([^{}]*)\}/.exec(pattern);
  if (!m) return [pattern];
  const [whole, body] = m as unknown as [string, string];
  const head = pattern.slice(0, m.index);
  const tail = pattern.slice(m.index + whole.length);
  const range = /^(\d+)\.\.(\d+)$/.exec(body);
  let items: string[];
  if (range) {
    const [, a, b] = range as unknown as [string, string, string];
    const from = Number(a);
    const to = Number(b);
    if (to < from) throw new RangeError(`shard pattern ${pattern}: the range {${body}} runs backwards`);
    const width = a.length;
    items = Array.from({ length: to - from + 1 }, (_, i) => String(from + i).padStart(width, '0'));
  } else if (body.includes(',')) {
    items = body.split(',');
  } else {
    throw new RangeError(`shard pattern ${pattern}: {${body}} is neither a range {0000..0099} nor a list {a,b}`);
  }
  return items.flatMap((x) => expandBraces(`${head}${x}${tail}`));
}

