import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { take, tap } from 'rxjs';
import { ShardError, ShardFetchError, TruncatedDataError } from '../../src/data/errors.js';
import { backoffDelay, isUnsafeMemberName, parseShard, splitMemberName, verifyTarComplete } from '../../src/data/tar_shards.js';
import { readTarShards } from '../../operators/readTarShards.js';
import { decodeImages } from '../../operators/decodeImages.js';
import { collect, encodeImage, makeTar, pattern, streamError, tempDir, thrown } from './fixtures.js';

/** The longest wait for a connection to close after an abort (it takes milliseconds unloaded). */
const CLOSE_WAIT_MS = 10_000;

const FAST_RETRY = { retries: 3, baseDelayMs: 10, maxDelayMs: 40 };

/** A shard of `n` samples `<prefix>NNN.png` + `.cls` (label i mod 10), plus a JSON member to ignore. */
async function shard(prefix: string, n: number): Promise<Buffer> {
  const members = [];
  for (let i = 0; i < n; i++) {
    const key = `${prefix}${String(i).padStart(3, '0')}`;
    members.push({ name: `${key}.png`, data: await encodeImage(pattern(4, 4, 3, i), [4, 4, 3]) });
    members.push({ name: `${key}.cls`, data: `${i % 10}\n` });
    members.push({ name: `${key}.json`, data: '{}' });
  }
  return makeTar(members);
}

t.test('member names: keys, extensions, unsafe paths', async (t) => {
  t.same(splitMemberName('a/b/000123.seg.png'), { key: 'a/b/000123', ext: 'seg.png' });
  t.same(splitMemberName('x.v1/0001.PNG'), { key: 'x.v1/0001', ext: 'png' });
  for (const bad of ['../x.png', '/abs.png', 'a/../../x.png', '..\\x.png', 'C:/x.png']) t.ok(isUnsafeMemberName(bad), bad);
  for (const good of ['x.png', 'a/b.png', 'a..b.png', '...png']) t.notOk(isUnsafeMemberName(good), good);
  t.same([0, 1, 2, 3, 4].map((a) => backoffDelay(a, { retries: 9, baseDelayMs: 100, maxDelayMs: 1000 })), [100, 200, 400, 800, 1000]);
});

t.test('samples are grouped by key, in member order, from disk', async (t) => {
  const dir = await tempDir(t);
  const a = join(dir, 'a.tar');
  const b = join(dir, 'b.tar');
  await writeFile(a, await shard('a', 3));
  // cls before image, jpg, nested key
  await writeFile(
    b,
    await makeTar([
      { name: 'sub/q.cls', data: '7' },
      { name: 'sub/q.jpg', data: await encodeImage(pattern(4, 4, 3), [4, 4, 3], 'jpeg') },
    ]),
  );
  const samples = await collect(readTarShards({ paths: [a, b] }));
  t.same(samples.map((s) => [s.key, s.label, s.source]), [
    ['a000', 0, `${a}#a000.png`],
    ['a001', 1, `${a}#a001.png`],
    ['a002', 2, `${a}#a002.png`],
    ['sub/q', 7, `${b}#sub/q.jpg`],
  ]);
  const decoded = await collect(readTarShards({ paths: [a] }).pipe(decodeImages({ concurrent: 2 })));
  t.same([...decoded[2]!.image], [...pattern(4, 4, 3, 2)], 'pixels survive the tar round trip');
  t.equal((await collect(readTarShards({ paths: [a, b] }).pipe(take(1)))).length, 1);
});

t.test('members with ../ or absolute paths are rejected with an error', async (t) => {
  const png = await encodeImage(pattern(2, 2, 3), [2, 2, 3]);
  for (const name of ['../x.png', '/abs.png']) {
    const bytes = await makeTar([
      { name: 'ok.png', data: png },
      { name: 'ok.cls', data: '1' },
      { name, data: png },
    ]);
    const e = await parseShard(bytes, 'evil.tar').catch((e) => e);
    t.type(e, ShardError, name);
    t.match(e.message, `evil.tar: unsafe member path '${name}'`);
  }
});

t.test('malformed samples: a missing .cls, a bad class id', async (t) => {
  const png = await encodeImage(pattern(2, 2, 3), [2, 2, 3]);
  const noCls = await makeTar([{ name: 'a.png', data: png }, { name: 'b.png', data: png }, { name: 'b.cls', data: '1' }]);
  t.match((await parseShard(noCls, 's.tar').catch((e) => e)).message, `s.tar: sample 'a' has no a .cls member`);
  const badCls = await makeTar([{ name: 'a.png', data: png }, { name: 'a.cls', data: 'cat' }]);
  t.match((await parseShard(badCls, 's.tar').catch((e) => e)).message, `member 'a.cls': class id must be a non-negative decimal integer, found 'cat'`);
  const notTar = Buffer.alloc(2048, 0x41);
  t.match(thrown(() => verifyTarComplete(notTar, 'x.tar')).message, 'x.tar: invalid tar header at byte 0');
});

t.test('a truncated shard on disk is an error with offsets; none of its samples are emitted', async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, 'good.tar');
  const cutMid = join(dir, 'cut-mid.tar');
  const cutEdge = join(dir, 'cut-edge.tar');
  const whole = await shard('s', 4);
  await writeFile(good, await shard('g', 2));
  await writeFile(cutMid, whole.subarray(0, 3000));
  // cut exactly after the last member's padded data: only the end-of-archive marker is missing
  await writeFile(cutEdge, whole.subarray(0, whole.length - 1024));

  const seen: string[] = [];
  const e = await streamError(readTarShards({ paths: [good, cutMid] }).pipe(tap((s) => seen.push(s.key))));
  t.type(e, TruncatedDataError);
  t.match(e.message, `${cutMid}: truncated shard: member`);
  t.match(e.message, 'but the shard ends at byte 3000');
  t.equal((e as TruncatedDataError).offset, 3000);
  t.same(seen, ['g000', 'g001'], 'the whole shard before it is used; nothing of the cut one');

  const e2 = await streamError(readTarShards({ paths: [cutEdge] }));
  t.type(e2, TruncatedDataError);
  t.match(e2.message, `after member 's003.json'`);
  t.match(e2.message, 'the tar end-of-archive marker is missing');
});

interface Route {
  (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, hit: number): void;
}

async function serve(t: { teardown(fn: () => unknown): void }, routes: Record<string, Route>): Promise<{ base: string; hits: Record<string, number> }> {
  const hits: Record<string, number> = {};
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    hits[path] = (hits[path] ?? 0) + 1;
    const route = routes[path];
    if (!route) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    route(req, res, hits[path]!);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

t.test('HTTP: shards are fetched; 503 twice then 200 is retried with backoff', async (t) => {
  const a = await shard('h', 3);
  const { base, hits } = await serve(t, {
    '/a.tar': (_q, res) => res.end(a),
    '/flaky.tar': (_q, res, hit) => {
      if (hit <= 2) {
        res.statusCode = 503;
        res.end('busy');
      } else res.end(a);
    },
  });
  t.same((await collect(readTarShards({ urls: [`${base}/a.tar`] }))).map((s) => s.key), ['h000', 'h001', 'h002']);
  const t0 = Date.now();
  const samples = await collect(readTarShards({ urls: [`${base}/flaky.tar`], retry: FAST_RETRY }));
  const elapsed = Date.now() - t0;
  t.equal(samples.length, 3);
  t.equal(hits['/flaky.tar'], 3, 'two failures, one success');
  t.ok(elapsed >= 10 + 20 - 2, `backoff waited 10 + 20 ms (took ${elapsed} ms)`);
});

t.test('HTTP: always 500 is a clear error after the retries; 404 fails at once', async (t) => {
  const { base, hits } = await serve(t, {
    '/down.tar': (_q, res) => {
      res.statusCode = 500;
      res.end('oops');
    },
  });
  const e = await streamError(readTarShards({ urls: [`${base}/down.tar`], retry: FAST_RETRY }));
  t.type(e, ShardFetchError);
  t.equal((e as ShardFetchError).attempts, 4);
  t.equal((e as ShardFetchError).status, 500);
  t.match(e.message, `${base}/down.tar: cannot fetch shard after 4 attempts: HTTP 500`);
  t.equal(hits['/down.tar'], 4);

  const e404 = await streamError(readTarShards({ urls: [`${base}/missing.tar`], retry: FAST_RETRY }));
  t.type(e404, ShardFetchError);
  t.equal((e404 as ShardFetchError).attempts, 1);
  t.match(e404.message, 'after 1 attempt: HTTP 404');
  t.match(e404.message, 'check the URL');
});

t.test('HTTP: a body cut mid-way is never used as a whole shard', async (t) => {
  const whole = await shard('c', 6);
  const good = await shard('g', 2);
  const cut: Route = (_q, res) => {
    res.writeHead(200, { 'content-length': whole.length });
    res.write(whole.subarray(0, Math.floor(whole.length / 2)), () => res.socket?.destroy());
  };
  const { base, hits } = await serve(t, {
    '/good.tar': (_q, res) => res.end(good),
    '/cut.tar': cut,
    '/cut-once.tar': (q, res, hit) => (hit === 1 ? cut(q, res, hit) : res.end(whole)),
    // the server's own copy is truncated: the transfer is complete, the shard is not
    '/short.tar': (_q, res) => res.end(whole.subarray(0, whole.length - 1024)),
  });
  const seen: string[] = [];
  const e = await streamError(readTarShards({ urls: [`${base}/good.tar`, `${base}/cut.tar`], retry: FAST_RETRY }).pipe(tap((s) => seen.push(s.key))));
  t.type(e, ShardFetchError);
  t.match(e.message, `${base}/cut.tar: cannot fetch shard after 4 attempts: connection cut after`);
  t.same(seen, ['g000', 'g001'], 'no sample of the partial shard');
  t.equal(hits['/cut.tar'], 4);

  const again = await collect(readTarShards({ urls: [`${base}/cut-once.tar`], retry: FAST_RETRY }));
  t.same(again.map((s) => s.key), ['c000', 'c001', 'c002', 'c003', 'c004', 'c005'], 'a retry after a cut gives each sample once');

  const e2 = await streamError(readTarShards({ urls: [`${base}/short.tar`], retry: { ...FAST_RETRY, retries: 1 } }));
  t.type(e2, ShardFetchError);
  t.match(e2.message, 'end-of-archive marker is missing');
});

t.test('unsubscribing aborts a slow download', async (t) => {
  // Events, not guessed delays: unsubscribe once the server is sending, then wait (bounded) for
  // the server to see the connection close.
  let closed = false;
  let sending!: () => void;
  const started = new Promise<void>((resolve) => (sending = resolve));
  let onClose!: () => void;
  const closedNow = new Promise<void>((resolve) => (onClose = resolve));
  const { base } = await serve(t, {
    '/slow.tar': (_q, res) => {
      res.on('close', () => ((closed = true), onClose()));
      res.writeHead(200, { 'content-length': 100_000 });
      res.write(Buffer.alloc(512), () => sending()); // then hang
    },
  });
  const sub = readTarShards({ urls: [`${base}/slow.tar`] }).subscribe({ error: (e) => t.fail(`no error after unsubscribe: ${e}`) });
  await started;
  sub.unsubscribe();
  await Promise.race([closedNow, new Promise((r) => setTimeout(r, CLOSE_WAIT_MS))]);
  t.ok(closed, 'the download was aborted: the server saw the connection close');
  t.throws(() => readTarShards({ urls: ['/tmp/x.tar'] }), /not an http\(s\) URL/);
  t.throws(() => readTarShards({}), /at least one shard/);
});
