/**
 * Milliseconds left before tap's per-file timeout ends this test process, less `marginMs` (time
 * to report a failure cleanly). tap's runner passes its `timeout` (package.json: 600 s) to the
 * test process as TAP_TIMEOUT, in seconds ('0': none), and counts it from the spawn.
 *
 * Use it as the timeout of a child process. A fixed per-child limit (say 120 s) fails on a slow
 * or loaded machine (CI's 2 cores running two test files, each spawning trainers) while the file
 * still has minutes left; this one only turns a hung child into a clear failure before tap kills
 * the whole file. Never less than `floorMs`.
 */
export function timeLeftMs(marginMs = 20_000, floorMs = 5_000): number | undefined {
  const seconds = Number(process.env.TAP_TIMEOUT ?? 30);
  if (!(seconds > 0)) return undefined;
  return Math.floor(Math.max(floorMs, seconds * 1000 - process.uptime() * 1000 - marginMs));
}
