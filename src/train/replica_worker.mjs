// Bootstrap of a training replica's worker thread (src/train/replicas.ts). In the repository it
// loads the TypeScript sources through tsx; installed from the package, the compiled dist/ ones.
import { existsSync } from 'node:fs';

const ts = new URL('./replica.ts', import.meta.url);
if (existsSync(ts)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(ts.href);
} else {
  await import(new URL('./replica.js', import.meta.url).href);
}
