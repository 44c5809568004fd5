/**
 * IDX files (MNIST, Fashion-MNIST): a 4-byte magic `00 00 <dtype> <ndims>`, then `ndims`
 * big-endian uint32 dimensions, then the values, big-endian, row-major. Files may be gzipped
 * (detected by the gzip magic `1f 8b`, not by the file name).
 *
 * Offsets in errors count bytes of the IDX data: of the decompressed stream for a gzipped file.
 */
import { readFile, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import { DataFormatError, TruncatedDataError } from './errors.js';

export const IDX_DTYPES = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
} as const;

export type IdxDtype = (typeof IDX_DTYPES)[keyof typeof IDX_DTYPES]['name'];
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: IdxData;
}

/** Largest rank we accept: real IDX files have 1 to 4 dimensions; more means a wrong file. */
const MAX_IDX_DIMS = 8;

const GZIP_MAGIC = [0x1f, 0x8b] as const;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/**
 * Gunzip `bytes` if they are gzip, else return them. A gzip stream cut short is decompressed as
 * far as it goes, so that the IDX parser can say where the data ran out; `truncatedGzip` is set.
 */
export function maybeGunzip(bytes: Uint8Array, file: string): { data: Uint8Array; truncatedGzip: boolean } {
  if (!isGzip(bytes)) return { data: bytes, truncatedGzip: false };
  try {
    return { data: gunzipSync(bytes), truncatedGzip: false };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code !== 'Z_BUF_ERROR') {
      throw new DataFormatError(file, `corrupt gzip data (${err.message}); download the file again`, undefined, {
        cause: e,
      });
    }
    // Z_BUF_ERROR: "unexpected end of file". Decompress what there is.
    try {
      return { data: gunzipSync(bytes, { finishFlush: zlibConstants.Z_SYNC_FLUSH }), truncatedGzip: true };
    } catch {
      throw new TruncatedDataError(
        file,
        `gzip stream cut short at byte ${bytes.length} of the file, before any data could be read; download it again`,
        bytes.length,
        NaN,
      );
    }
  }
}

/** Parse IDX bytes (not gzipped). `file` is named in errors. */
export function parseIdx(bytes: Uint8Array, file: string, truncatedGzip = false): IdxArray {
  const where = truncatedGzip ? ' (gzip stream cut short; offset in the decompressed data)' : '';
  const hint = 'the file is truncated: download it again';
  if (bytes.length < 4) {
    throw new TruncatedDataError(file, `IDX header needs 4 bytes, the data ends at byte ${bytes.length}${where}; ${hint}`, bytes.length, 4);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataFormatError(
      file,
      `not an IDX file: bytes 0-1 are 0x${hex(bytes[0]!)}${hex(bytes[1]!)}, expected 0x0000 ` +
        `(an HTML error page or another format saved under this name?); check the path or download it again`,
      0,
    );
  }
  const code = bytes[2]! as keyof typeof IDX_DTYPES;
  const dtype = IDX_DTYPES[code];
  if (!dtype) {
    throw new DataFormatError(
      file,
      `unknown IDX data type 0x${hex(bytes[2]!)} at byte 2 (expected one of 08 0b 0c 0d 0e 09); not an IDX file?`,
      2,
    );
  }
  const ndims = bytes[3]!;
  if (ndims === 0 || ndims > MAX_IDX_DIMS) {
    throw new DataFormatError(file, `IDX header at byte 3 gives ${ndims} dimensions (expected 1 to ${MAX_IDX_DIMS}); not an IDX file?`, 3);
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new TruncatedDataError(
      file,
      `IDX header with ${ndims} dimensions needs ${headerBytes} bytes, the data ends at byte ${bytes.length}${where}; ${hint}`,
      bytes.length,
      headerBytes,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndims; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * dtype.bytes;
  if (bytes.length < expected) {
    throw new TruncatedDataError(
      file,
      `IDX data ran out at byte ${bytes.length}${where}: the header (${dtype.name} [${shape.join(', ')}]) ` +
        `needs ${expected} bytes; ${hint}`,
      bytes.length,
      expected,
    );
  }
  if (bytes.length > expected) {
    throw new DataFormatError(
      file,
      `${bytes.length - expected} unexpected bytes after the data at byte ${expected} ` +
        `(header: ${dtype.name} [${shape.join(', ')}]); the file is not a valid IDX file`,
      expected,
    );
  }
  if (truncatedGzip) {
    // The payload is whole but the gzip trailer (CRC, size) is missing: integrity unchecked.
    throw new TruncatedDataError(file, `gzip stream cut short after the IDX data (no gzip trailer); ${hint}`, bytes.length, expected);
  }
  return { dtype: dtype.name, shape, data: readValues(view, headerBytes, count, dtype.name) };
}

function readValues(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxData {
  const start = view.byteOffset + offset;
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer, start, count);
    case 'int8':
      return new Int8Array(view.buffer, start, count);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/** Read and parse an IDX file, gzipped or not. The whole file is read: IDX files are small. */
export async function readIdxFile(file: string): Promise<IdxArray> {
  let raw: Uint8Array;
  try {
    raw = await readFile(file);
  } catch (e) {
    throw new DataFormatError(file, `cannot read IDX file (${(e as Error).message}); check the path`, undefined, { cause: e });
  }
  const { data, truncatedGzip } = maybeGunzip(raw, file);
  return parseIdx(data, file, truncatedGzip);
}

/** Encode an array as IDX bytes (big-endian), the inverse of {@link parseIdx}. */
export function encodeIdx(array: IdxArray): Uint8Array {
  const entry = Object.entries(IDX_DTYPES).find(([, d]) => d.name === array.dtype);
  if (!entry) throw new RangeError(`unknown IDX dtype ${array.dtype}`);
  const [code, { bytes: size }] = entry;
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== count) {
    throw new RangeError(`IDX data has ${array.data.length} values, shape [${array.shape.join(', ')}] needs ${count}`);
  }
  const header = 4 + 4 * array.shape.length;
  const out = new Uint8Array(header + count * size);
  const view = new DataView(out.buffer);
  out[2] = Number(code);
  out[3] = array.shape.length;
  array.shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const d = array.data;
  for (let i = 0; i < count; i++) {
    const o = header + i * size;
    switch (array.dtype) {
      case 'uint8':
        view.setUint8(o, d[i]!);
        break;
      case 'int8':
        view.setInt8(o, d[i]!);
        break;
      case 'int16':
        view.setInt16(o, d[i]!, false);
        break;
      case 'int32':
        view.setInt32(o, d[i]!, false);
        break;
      case 'float32':
        view.setFloat32(o, d[i]!, false);
        break;
      case 'float64':
        view.setFloat64(o, d[i]!, false);
        break;
    }
  }
  return out;
}

/** Write an IDX file, gzipped (level 9, like the originals) when `gzip` is true. */
export async function writeIdxFile(file: string, array: IdxArray, { gzip }: { gzip: boolean }): Promise<void> {
  const bytes = encodeIdx(array);
  await writeFile(file, gzip ? gzipSync(bytes, { level: 9 }) : bytes);
}

/** The conventional file names of each split (Fashion-MNIST and MNIST share them). */
export const IDX_FILE_NAMES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

/**
 * The images and labels files of `split` in `dir`, with or without `.gz`. The error lists the
 * names it looked for.
 */
export async function idxPaths(dir: string, split: 'train' | 'test'): Promise<{ images: string; labels: string }> {
  const names = IDX_FILE_NAMES[split];
  const find = async (base: string): Promise<string> => {
    for (const name of [`${base}.gz`, base]) {
      const p = join(dir, name);
      try {
        await access(p);
        return p;
      } catch {
        // try the next name
      }
    }
    throw new DataFormatError(
      dir,
      `no ${base}.gz or ${base} here; --data must hold the four IDX files ` +
        `(fetch Fashion-MNIST with 'npm run data:fashion-mnist')`,
    );
  };
  return { images: await find(names.images), labels: await find(names.labels) };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
