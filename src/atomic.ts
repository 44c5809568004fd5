/**
 * One way to write a file that readers see whole or not at all: a temporary file beside it,
 * fsync, rename over the target, fsync of the directory. Checkpoints, run summaries and sweep
 * results all go through it (a sweep tells finished runs by their summary.json, and a killed
 * process must not leave half of one).
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';

/** What `writeFileAtomic` opens the temporary file with. */
export interface FileLayer {
  open(path: string, flags: 'w'): Promise<Pick<FileHandle, 'writev' | 'sync' | 'close'>>;
}
import { dirname } from 'node:path';

/**
 * Write `data` (a string is UTF-8) to `path` atomically; the temporary file is removed on failure.
 * `beforeRename` runs once the data is durable, just before the rename (e.g. to keep the old file).
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array | readonly Uint8Array[],
  beforeRename?: () => Promise<void>,
  /** The file layer (tests inject faults through it). */
  io: FileLayer = { open },
): Promise<void> {
  const parts: Uint8Array[] = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : [...data];
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await io.open(tmp, 'w');
  try {
    await fh.writev(parts);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await beforeRename?.();
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await rename(tmp, path);
  // Make the rename itself durable.
  const d = await open(dirname(path), 'r');
  try {
    await d.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await d.close();
  }
}
