import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { take } from 'rxjs';
import { listClasses } from '../../src/data/image_folder.js';
import { DataFormatError } from '../../src/data/errors.js';
import { createSkipCounter } from '../../src/data/types.js';
import { readImageFolder } from '../../operators/readImageFolder.js';
import { decodeImages } from '../../operators/decodeImages.js';
import { collect, encodeImage, pattern, streamError, tempDir } from './fixtures.js';

/** root/{cat,dog,Zebra}/..., with nested files, hidden files, a text file, a corrupt and a truncated PNG. */
async function makeFolder(root: string): Promise<void> {
  const png = (seed: number) => encodeImage(pattern(6, 5, 3, seed), [6, 5, 3], 'png');
  await mkdir(join(root, 'dog', 'nested'), { recursive: true });
  await mkdir(join(root, 'cat'));
  await mkdir(join(root, 'Zebra'));
  await mkdir(join(root, '.cache'));
  await writeFile(join(root, 'dog', 'b.png'), await png(1));
  await writeFile(join(root, 'dog', 'a.jpg'), await encodeImage(pattern(6, 5, 3, 2), [6, 5, 3], 'jpeg'));
  await writeFile(join(root, 'dog', 'nested', 'c.webp'), await encodeImage(pattern(6, 5, 3, 3), [6, 5, 3], 'webp'));
  await writeFile(join(root, 'dog', '.hidden.png'), await png(4));
  await writeFile(join(root, 'dog', 'notes.txt'), 'not an image');
  await writeFile(join(root, 'cat', 'x.png'), await png(5));
  await writeFile(join(root, 'cat', 'corrupt.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage garbage'));
  const whole = await png(6);
  await writeFile(join(root, 'cat', 'truncated.png'), whole.subarray(0, whole.length - 40));
  await writeFile(join(root, 'Zebra', 'z.gif'), await encodeImage(pattern(6, 5, 3, 7), [6, 5, 3], 'gif'));
  await writeFile(join(root, 'README'), 'a file at the top level is not a class');
}

t.test('classes are sorted sub-folders; files listed per class, sorted, filtered', async (t) => {
  const root = await tempDir(t);
  await makeFolder(root);
  t.same(await listClasses(root), ['Zebra', 'cat', 'dog'], 'code-unit order: upper case first');
  const samples = await collect(readImageFolder({ root }));
  t.same(
    samples.map((s) => [s.key, s.label]),
    [
      ['Zebra/z.gif', 0],
      ['cat/corrupt.png', 1],
      ['cat/truncated.png', 1],
      ['cat/x.png', 1],
      ['dog/a.jpg', 2],
      ['dog/b.png', 2],
      ['dog/nested/c.webp', 2],
    ],
  );
  t.equal(samples[3]!.path, join(root, 'cat', 'x.png'));
  t.equal(samples[3]!.bytes, undefined, 'files are not read by the source');
  const fixed = await collect(readImageFolder({ root, classes: ['dog', 'cat'] }));
  t.same([...new Set(fixed.map((s) => `${s.key.split('/')[0]}=${s.label}`))], ['dog=0', 'cat=1']);
  t.equal((await collect(readImageFolder({ root }).pipe(take(2)))).length, 2);
});

t.test('decoding the folder skips the corrupt and truncated files by path', async (t) => {
  const root = await tempDir(t);
  await makeFolder(root);
  const skipped = createSkipCounter();
  const logged: { source?: string }[] = [];
  const out = await collect(
    readImageFolder({ root }).pipe(decodeImages({ concurrent: 3, size: [4, 4], channels: 3, skipped, logger: { warn: (o) => logged.push(o) } })),
  );
  t.same(out.map((s) => s.key), ['Zebra/z.gif', 'cat/x.png', 'dog/a.jpg', 'dog/b.png', 'dog/nested/c.webp']);
  t.ok(out.every((s) => s.shape.join() === '4,4,3'));
  t.equal(skipped.count, 2);
  // Skips are logged as decodes finish: with 3 in flight, in either order.
  t.same(logged.map((l) => l.source).sort(), [join(root, 'cat', 'corrupt.png'), join(root, 'cat', 'truncated.png')]);
  const e = await streamError(readImageFolder({ root }).pipe(decodeImages({ concurrent: 3, strict: true })));
  t.match(e.message, join(root, 'cat', 'corrupt.png'));
});

t.test('missing or empty roots are clear errors', async (t) => {
  const root = await tempDir(t);
  const e = await streamError(readImageFolder({ root }));
  t.type(e, DataFormatError);
  t.match(e.message, 'no class sub-folders');
  t.match((await streamError(readImageFolder({ root: join(root, 'nope') }))).message, 'cannot list the image folder');
  t.match((await streamError(readImageFolder({ root, classes: ['ghost'] }))).message, `${join(root, 'ghost')}: cannot list class folder`);
});
