// A decode worker of `DecodePool` (decode_pool.ts): runs `sharpDecode` for each request and posts
// the pixels back (in a fresh buffer, transferred: no copy on the receiving side) or sharp's error
// message. Plain JavaScript, so that the worker needs no TypeScript loader.
//
// Protocol: request `{ id, input, options }`; reply `{ id, data, info }` or `{ id, error }`.
import { parentPort } from 'node:worker_threads';
import { sharpDecode } from './decode_sharp.mjs';

parentPort.on('message', async ({ id, input, options }) => {
  try {
    const { data, info } = await sharpDecode(input, options);
    // sharp's buffer may be a view into memory it manages: copy into one of our own to transfer it.
    const pixels = new Uint8Array(data);
    parentPort.postMessage({ id, data: pixels, info }, [pixels.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
});
