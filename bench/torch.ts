/**
 * Runs the PyTorch reference (`bench/reference/torch_step.py`) so that the benchmark can print
 * ratios measured side by side on the same machine. Never throws: a missing interpreter, torch or
 * script makes `available` false with a one-line `reason`, and a failed run returns `{ ok: false }`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export interface TorchMeasurement {
  ok: true;
  model: string;
  batch: number;
  threads: number;
  steps: number;
  imagesPerSecond: number;
  msPerStep: number;
}

export interface TorchFailure {
  ok: false;
  model: string;
  batch: number;
  threads: number;
  error: string;
}

export type TorchResult = TorchMeasurement | TorchFailure;

export interface TorchLocateOptions {
  /** `--reference PATH`; else env `FGSGD_TORCH_REFERENCE`; else `<repoRoot>/bench/reference/torch_step.py`. */
  reference?: string;
  repoRoot: string;
  /** Interpreter; else env `FGSGD_PYTHON`; else `/usr/bin/python3` (Debian's, which has python3-torch). */
  python?: string;
  /** Skip torch entirely (`--skip-torch`). */
  disabled?: boolean;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const last = String(stderr).trim().split('\n').filter(Boolean).pop();
        rej(new Error(last ? `${err.message.split('\n')[0]}: ${last}` : err.message.split('\n')[0]));
      } else res({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export class TorchReference {
  private constructor(
    readonly available: boolean,
    readonly python: string,
    readonly script: string | undefined,
    readonly version: string | undefined,
    readonly reason: string | undefined,
  ) {}

  /** Find the interpreter, torch and the script. */
  static async locate(o: TorchLocateOptions): Promise<TorchReference> {
    const python = o.python ?? process.env.FGSGD_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    const given = o.reference ?? process.env.FGSGD_TORCH_REFERENCE;
    const script = resolve(given ?? resolve(o.repoRoot, 'bench', 'reference', 'torch_step.py'));
    if (o.disabled) return new TorchReference(false, python, script, undefined, 'disabled by --skip-torch');
    if (!existsSync(script)) {
      return new TorchReference(false, python, undefined, undefined,
        `reference script not found at ${script} (give --reference PATH or FGSGD_TORCH_REFERENCE)`);
    }
    try {
      const { stdout } = await run(python, ['-c', 'import torch; print(torch.__version__)'], 120_000);
      return new TorchReference(true, python, script, stdout.trim(), undefined);
    } catch (e) {
      return new TorchReference(false, python, script, undefined,
        `PyTorch not importable with ${python} (${(e as Error).message}); install it with 'apt-get install -y python3-torch'`);
    }
  }

  /** One measurement, run now (never cached: load drifts). `timeoutMs` bounds the child process. */
  async measure(q: { model: string; batch: number; threads: number; steps: number; warmup?: number; timeoutMs?: number }): Promise<TorchResult> {
    const base = { model: q.model, batch: q.batch, threads: q.threads };
    if (!this.available || !this.script) return { ok: false, ...base, error: this.reason ?? 'torch unavailable' };
    const args = [this.script, '--model', q.model, '--batch', String(q.batch), '--threads', String(q.threads),
      '--steps', String(q.steps), '--warmup', String(q.warmup ?? 3)];
    try {
      const { stdout } = await run(this.python, args, q.timeoutMs ?? 300_000);
      const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (!line) throw new Error(`no JSON line in the output: ${stdout.trim().slice(0, 200)}`);
      const j = JSON.parse(line) as { images_per_s?: number; ms_per_step?: number; steps?: number };
      if (typeof j.images_per_s !== 'number') throw new Error(`no images_per_s in ${line}`);
      return { ok: true, ...base, steps: j.steps ?? q.steps, imagesPerSecond: j.images_per_s, msPerStep: j.ms_per_step ?? NaN };
    } catch (e) {
      return { ok: false, ...base, error: (e as Error).message };
    }
  }
}
