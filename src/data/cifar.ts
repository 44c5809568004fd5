/**
 * CIFAR binary batches (https://www.cs.toronto.edu/~kriz/cifar.html, "binary version").
 *
 * - CIFAR-10: records of 1 label byte + 3072 pixel bytes.
 * - CIFAR-100: records of 1 coarse label byte + 1 fine label byte + 3072 pixel bytes.
 *
 * Pixels are stored channel-first: 1024 red, then 1024 green, then 1024 blue values of a 32×32
 * image, row-major. Samples are converted to HWC (channel last), the project's layout.
 */
import { readFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { DataFormatError, TruncatedDataError } from './errors.js';
import type { Sample } from './types.js';

export const CIFAR_SIDE = 32;
export const CIFAR_CHANNELS = 3;
export const CIFAR_PIXELS = CIFAR_SIDE * CIFAR_SIDE * CIFAR_CHANNELS; // 3072

export type CifarVariant = 'cifar10' | 'cifar100';
export type CifarLabel = 'fine' | 'coarse';

export const CIFAR_FORMATS = {
  cifar10: { labelBytes: 1, classes: { fine: 10, coarse: 10 } },
  cifar100: { labelBytes: 2, classes: { fine: 100, coarse: 20 } },
} as const;

export function cifarRecordBytes(variant: CifarVariant): number {
  return CIFAR_FORMATS[variant].labelBytes + CIFAR_PIXELS;
}

/** Convert one CHW record's pixels to HWC. */
export function chwToHwc(chw: Uint8Array, h = CIFAR_SIDE, w = CIFAR_SIDE, c = CIFAR_CHANNELS): Uint8Array {
  const out = new Uint8Array(h * w * c);
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    const base = ch * plane;
    for (let i = 0; i < plane; i++) out[i * c + ch] = chw[base + i]!;
  }
  return out;
}

/**
 * Check a whole batch file and return its record count. Throws `TruncatedDataError` naming the
 * byte offset of a partial last record.
 */
export function checkCifarBytes(bytes: Uint8Array, file: string, variant: CifarVariant): number {
  const record = cifarRecordBytes(variant);
  if (bytes.length === 0) {
    throw new TruncatedDataError(file, `empty file; a ${variant} batch holds ${record}-byte records; download it again`, 0, record);
  }
  const whole = Math.floor(bytes.length / record);
  const rest = bytes.length % record;
  if (rest !== 0) {
    const start = whole * record;
    throw new TruncatedDataError(
      file,
      `truncated ${variant} batch: the record at byte ${start} is cut off after ${rest} of its ${record} bytes ` +
        `(the file ends at byte ${bytes.length}, expected ${start + record}); download it again, ` +
        `or check --dataset (a CIFAR-100 file read as CIFAR-10 shows up like this)`,
      bytes.length,
      start + record,
    );
  }
  return whole;
}

/**
 * Decode record `i` of a checked batch into a Sample. Labels out of range are a format error at
 * the label's byte offset.
 */
export function cifarRecord(bytes: Uint8Array, i: number, file: string, variant: CifarVariant, label: CifarLabel): Sample {
  const { labelBytes, classes } = CIFAR_FORMATS[variant];
  const start = i * (labelBytes + CIFAR_PIXELS);
  // CIFAR-100 stores the coarse label first, then the fine one.
  const labelOffset = variant === 'cifar100' && label === 'fine' ? start + 1 : start;
  const value = bytes[labelOffset]!;
  const n = classes[label];
  if (value >= n) {
    throw new DataFormatError(
      file,
      `record ${i}: ${variant} ${label} label ${value} at byte ${labelOffset} is out of range 0..${n - 1}; ` +
        `wrong variant (CIFAR-10 vs CIFAR-100) or a corrupt file`,
      labelOffset,
    );
  }
  const pixels = bytes.subarray(start + labelBytes, start + labelBytes + CIFAR_PIXELS);
  return {
    key: `${file}:${i}`,
    image: chwToHwc(pixels),
    shape: [CIFAR_SIDE, CIFAR_SIDE, CIFAR_CHANNELS],
    label: value,
    source: file,
  };
}

/** Read a batch file whole (about 30 MB) and check it. */
export async function readCifarFile(file: string, variant: CifarVariant): Promise<{ bytes: Uint8Array; records: number }> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new DataFormatError(file, `cannot read CIFAR batch (${(e as Error).message}); check the path`, undefined, { cause: e });
  }
  return { bytes, records: checkCifarBytes(bytes, file, variant) };
}

/** The standard batch file names of each variant and split. */
export const CIFAR_FILE_NAMES = {
  cifar10: {
    train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
    test: ['test_batch.bin'],
    folder: 'cifar-10-batches-bin',
  },
  cifar100: { train: ['train.bin'], test: ['test.bin'], folder: 'cifar-100-binary' },
} as const;

/**
 * The batch files of `split` in `dir`, or in the archive's own sub-folder
 * (`cifar-10-batches-bin`, `cifar-100-binary`) under it.
 */
export async function cifarPaths(dir: string, split: 'train' | 'test', variant: CifarVariant = 'cifar10'): Promise<string[]> {
  const names = CIFAR_FILE_NAMES[variant];
  for (const base of [dir, join(dir, names.folder)]) {
    const paths = names[split].map((n) => join(base, n));
    const found = await Promise.all(paths.map((p) => access(p).then(() => true, () => false)));
    if (found.every(Boolean)) return paths;
  }
  throw new DataFormatError(
    dir,
    `no ${variant} ${split} batches here (looked for ${names[split].join(', ')}, also under ${names.folder}/); ` +
      `--data must hold the extracted binary version of ${variant}`,
  );
}
